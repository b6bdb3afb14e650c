// LiteRT (TensorFlow Lite) `.tflite` through TensorFlowLiteSwift's `Interpreter` (CocoaPods, see
// the Podfile), with the request's thread count. The backend picks the delegates, with one meaning
// on every runner of the harness (docs/ios.md, "LiteRT backends"):
//   "cpu", "xnnpack" or "": LiteRT on the CPU as it runs by default elsewhere: XNNPACK for the
//       operators it supports, the built-in kernels for the rest, sized to `threads`
//   "coreml": LiteRT's Core ML delegate first, XNNPACK for what it leaves
// TensorFlowLiteSwift leaves XNNPACK off unless asked (Interpreter.Options.isXNNPackEnabled
// defaults to false, and the C API's CreateOpResolver applies no default delegate), and adds it
// after the delegates it is given, so it runs what they leave. Read against TensorFlowLiteSwift's
// Sources/Interpreter.swift and podspec (tensorflow/lite/swift) and LiteRT v1.4.1's
// tflite/core/c/c_api.cc and create_op_resolver_with_builtin_ops.cc; never compiled.
// The timed call is `invoke()` alone: the input is copied in before it and the output read after.
// Integer inputs are quantized with the tensor's scale and zero point, as
// device_runners/host/runtimes.py does, so int8 models take the same images.

#if canImport(TensorFlowLite)
import Foundation
import TensorFlowLite
#if canImport(TensorFlowLiteC)
import TensorFlowLiteC
#endif

final class LiteRTRuntime: BenchRuntime {
    static let name = "litert"
    static let timedCall = "Interpreter.invoke"

    static var version: String {
        #if canImport(TensorFlowLiteC)
        return String(cString: TfLiteVersion())
        #else
        return "unknown"
        #endif
    }

    private var interpreter: Interpreter?
    private var delegates: [Delegate] = []
    private var loadDetails: [String: Any] = [:]

    required init() {}

    func load(artifact: URL, request: RunRequest) throws {
        var options = Interpreter.Options()
        options.threadCount = request.threads
        options.isXNNPackEnabled = true  // for every backend: see the top of this file
        let backend = request.backend ?? ""
        switch backend {
        case "", "cpu", "xnnpack":
            break
        case "coreml":
            var coreML = CoreMLDelegate.Options()
            coreML.enabledDevices = .all  // the default, .neuralEngine, refuses phones without one
            guard let delegate = CoreMLDelegate(options: coreML) else {
                throw BenchError.unsupported("LiteRT's Core ML delegate cannot be created on this iPhone")
            }
            delegates = [delegate]
        default:
            throw BenchError.failed("unknown LiteRT backend '\(backend)'; use cpu (or xnnpack) or coreml")
        }
        let interpreter = try Interpreter(modelPath: artifact.path, options: options,
                                          delegates: delegates.isEmpty ? nil : delegates)
        try interpreter.allocateTensors()
        self.interpreter = interpreter
        // In the order LiteRT applies them: the Core ML delegate first, XNNPACK for what it leaves.
        var applied = delegates.isEmpty ? [String]() : ["coreml"]
        applied.append("xnnpack")
        loadDetails = ["delegates": applied, "threads_applied": true]
        if !delegates.isEmpty {
            loadDetails["delegates_note"] = "xnnpack runs what the coreml delegate leaves (none when it took the whole graph)"
        }
    }

    var details: [String: Any] { loadDetails }

    func setInput(_ values: [Float], shape: [Int]) throws {
        guard let interpreter else { throw BenchError.failed("the model is not loaded") }
        guard interpreter.inputTensorCount == 1 else {
            throw BenchError.failed("the model takes \(interpreter.inputTensorCount) inputs; this app "
                                    + "feeds exactly one tensor")
        }
        let tensor = try Self.describing { try interpreter.input(at: 0) }
        guard tensor.shape.dimensions == shape else {
            throw BenchError.failed("input_shape \(shape) does not match the model's input "
                                    + "\(tensor.shape.dimensions)")
        }
        let data: Data
        switch (tensor.dataType, tensor.quantizationParameters) {
        case (.float32, _):
            data = values.withUnsafeBufferPointer { Data(buffer: $0) }
        case (.uInt8, let quantization?):
            // numpy's np.round rounds half to even; so does this.
            data = Data(values.map { value -> UInt8 in
                let q = (value / quantization.scale).rounded(.toNearestOrEven) + Float(quantization.zeroPoint)
                return q.isNaN ? 0 : UInt8(min(max(q, 0), 255))
            })
        default:
            throw BenchError.unsupported("the model's input is \(tensor.dataType); this app feeds float32 "
                                         + "or quantized uint8")
        }
        try interpreter.copy(data, toInputAt: 0)
    }

    func run() throws {
        guard let interpreter else { throw BenchError.failed("the model is not loaded") }
        try interpreter.invoke()
    }

    func firstOutput() throws -> (shape: [Int], values: [Float]) {
        guard let interpreter else { throw BenchError.failed("the model is not loaded") }
        let tensor = try Self.describing { try interpreter.output(at: 0) }
        let count = tensor.shape.dimensions.reduce(1, *)
        switch (tensor.dataType, tensor.quantizationParameters) {
        case (.float32, _):
            var values = [Float](repeating: 0, count: count)
            _ = values.withUnsafeMutableBytes { tensor.data.copyBytes(to: $0) }
            return (tensor.shape.dimensions, values)
        case (.uInt8, let quantization?):
            let values = tensor.data.map { (Float($0) - Float(quantization.zeroPoint)) * quantization.scale }
            return (tensor.shape.dimensions, values)
        default:
            throw BenchError.failed("the model's first output is \(tensor.dataType); this app reads "
                                    + "float32 or quantized uint8")
        }
    }

    /// TensorFlowLiteSwift's `Tensor.DataType` has no int8 case, so it throws for an int8 tensor
    /// (the tflite-int8 format's input and output): say so rather than "invalid data type".
    private static func describing(_ read: () throws -> Tensor) throws -> Tensor {
        do {
            return try read()
        } catch InterpreterError.invalidTensorDataType {
            throw BenchError.unsupported("TensorFlowLiteSwift cannot read int8 tensors (its Tensor.DataType "
                                         + "has no int8), so int8 models do not run in this app")
        }
    }
}
#endif
