// Core ML `.mlpackage` (ML programs from harness/export/coreml.py), on the compute units the
// request's backend names: "coreml" (all) or "coreml:<units>" with the units one of cpu_only,
// cpu_and_gpu, cpu_and_ne, all, as device_runners/host/runtimes.py's coreml_compute_units reads it.

import CoreML
import Foundation

final class CoreMLRuntime: BenchRuntime {
    static let name = "coreml"
    static let timedCall = "MLModel.prediction"

    /// Core ML ships with iOS: its version is the OS version.
    static var version: String {
        let v = ProcessInfo.processInfo.operatingSystemVersion
        return "iOS \(v.majorVersion).\(v.minorVersion)" + (v.patchVersion > 0 ? ".\(v.patchVersion)" : "")
    }

    private var compiled: URL?
    private var compiledHere = false
    private var model: MLModel?
    private var inputName = ""
    private var outputName = ""
    private var unitsName = ""
    private var features: MLFeatureProvider?
    private var lastOutput: MLFeatureProvider?

    required init() {}

    deinit {
        // A compiled model is written to a temporary directory; one per trial would pile up.
        if compiledHere, let compiled { try? FileManager.default.removeItem(at: compiled) }
    }

    /// Compiles the .mlpackage into an .mlmodelc, as an app that downloads a model does. Kept out
    /// of `load_ms` (context `compile_ms`): an app ships or caches the compiled model, and
    /// compiling is many times the load. An .mlmodelc (the XCTest bundle's) is used as it is.
    func prepare(artifact: URL, request: RunRequest) throws -> [String: Any] {
        if artifact.pathExtension == "mlmodelc" {
            compiled = artifact
            return ["compiled": "given"]
        }
        let clock = DarwinProbe()
        let start = clock.nowNs()
        // The synchronous API, on the trial's own thread (never the main one). Its async
        // successor would need a Swift concurrency context around a loop that must not yield.
        compiled = try MLModel.compileModel(at: artifact)
        compiledHere = true
        return ["compile_ms": msBetween(start, clock.nowNs())]
    }

    func load(artifact: URL, request: RunRequest) throws {
        guard let compiled else { throw BenchError.failed("the Core ML model was not compiled") }
        let units = try Self.computeUnits(backend: request.backend ?? "")
        let configuration = MLModelConfiguration()
        configuration.computeUnits = units.value
        model = try MLModel(contentsOf: compiled, configuration: configuration)
        unitsName = units.name
    }

    var details: [String: Any] {
        ["compute_units": unitsName,
         "outputs": model.map { $0.modelDescription.outputDescriptionsByName.keys.sorted() } ?? [],
         "threads_applied": false,
         "threads_note": "Core ML schedules its own threads; the request's threads are not applied"]
    }

    static func computeUnits(backend: String) throws -> (name: String, value: MLComputeUnits) {
        let parts = backend.split(separator: ":", maxSplits: 1)
        let units = parts.count > 1 ? String(parts[1]) : "all"
        switch units {
        case "cpu_only": return (units, .cpuOnly)
        case "cpu_and_gpu": return (units, .cpuAndGPU)
        case "cpu_and_ne": return (units, .cpuAndNeuralEngine)
        case "all": return (units, .all)
        default:
            throw BenchError.failed("unknown Core ML compute units '\(units)'; use one of cpu_only, "
                                    + "cpu_and_gpu, cpu_and_ne, all")
        }
    }

    func setInput(_ values: [Float], shape: [Int]) throws {
        guard let model else { throw BenchError.failed("the Core ML model is not loaded") }
        let description = model.modelDescription
        let inputs = description.inputDescriptionsByName
        guard inputs.count == 1, let (name, input) = inputs.first, input.type == .multiArray else {
            throw BenchError.failed("the model takes \(inputs.count) inputs; this app feeds exactly one "
                                    + "multi-array")
        }
        if let constraint = input.multiArrayConstraint, constraint.shapeConstraint.type == .unspecified,
           constraint.shape.map(\.intValue) != shape {
            throw BenchError.failed("input_shape \(shape) does not match the model's input "
                                    + "\(constraint.shape.map(\.intValue))")
        }
        // Always float32: the exported packages take float32 inputs (coremltools keeps fp32 I/O
        // unless told otherwise) even when they compute in fp16.
        let array = try MLMultiArray(shape: shape.map { NSNumber(value: $0) }, dataType: .float32)
        array.withUnsafeMutableBytes { destination, _ in
            values.withUnsafeBytes { destination.copyMemory(from: $0) }
        }
        features = try MLDictionaryFeatureProvider(dictionary: [name: MLFeatureValue(multiArray: array)])
        inputName = name
        outputName = try Self.firstOutputName(description)
    }

    /// The output the check compares. Core ML describes outputs by name, in no order: with one
    /// multi-array output that one, otherwise the first by name (an approximation the context
    /// lists under `outputs`; the exported models have one output).
    private static func firstOutputName(_ description: MLModelDescription) throws -> String {
        let arrays = description.outputDescriptionsByName.filter { $0.value.type == .multiArray }.keys.sorted()
        guard let first = arrays.first else { throw BenchError.failed("the model has no multi-array output") }
        return first
    }

    func run() throws {
        guard let model, let features else { throw BenchError.failed("no input was set") }
        lastOutput = try model.prediction(from: features)
    }

    func firstOutput() throws -> (shape: [Int], values: [Float]) {
        guard let array = lastOutput?.featureValue(for: outputName)?.multiArrayValue else {
            throw BenchError.failed("the model produced no output \(outputName)")
        }
        // MLShapedArray reads through the array's strides (Core ML may pad them) and widens
        // fp16 outputs, which ML programs for iOS 16 keep, to float.
        let shaped = MLShapedArray<Float>(converting: array)
        return (shaped.shape, shaped.scalars)
    }
}
