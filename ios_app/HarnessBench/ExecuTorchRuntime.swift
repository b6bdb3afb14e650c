// ExecuTorch `.pte` through ExecuTorch's Swift API (`Module`, `Tensor`, `Value`; the package's
// extension/apple/ExecuTorch/Exported). The XNNPACK, Core ML and MPS backends and the optimized
// and quantized kernels are linked into the app and force-loaded so they register at start-up
// (project.yml, OTHER_LDFLAGS), so which backend runs is decided by how the .pte was lowered, as on
// every other runner. Mirrors device_runners/native/harness_runner.cpp, whose samples also time
// Module::forward. Read against extension/apple/ExecuTorch/Exported of ExecuTorch's release/1.4
// and main (Module, Tensor, Value, MethodMetadata); never compiled (ios_app/README.md).

#if canImport(ExecuTorch)
import ExecuTorch
import Foundation

final class ExecuTorchRuntime: BenchRuntime {
    static let name = "executorch"
    static let timedCall = "Module.forward"

    /// The Swift API reports no version; project.yml writes the package branch's version into
    /// Info.plist (HarnessExecuTorchVersion), and tests/test_ios_app.py keeps it equal to the
    /// executorch the harness exports with.
    static var version: String {
        Bundle.main.object(forInfoDictionaryKey: "HarnessExecuTorchVersion") as? String ?? "unknown"
    }

    private var module: Module?
    private var inputs: [Value] = []
    private var outputs: [Value] = []
    private var programLoadMs = 0.0
    private var methodLoadMs = 0.0

    required init() {}

    /// Module construction, program load and load("forward"), the native runner's load phase, in
    /// File mode as it uses.
    func load(artifact: URL, request: RunRequest) throws {
        let clock = DarwinProbe()
        let start = clock.nowNs()
        let module = Module(filePath: artifact.path, loadMode: .file)
        try module.load()
        let programLoaded = clock.nowNs()
        try module.load("forward")
        let end = clock.nowNs()
        self.module = module
        programLoadMs = msBetween(start, programLoaded)
        methodLoadMs = msBetween(programLoaded, end)
    }

    var details: [String: Any] {
        var details: [String: Any] = [
            "program_load_ms": programLoadMs, "method_load_ms": methodLoadMs, "load_mode": "file",
            "threads_applied": false,
            // The Apple API has no thread-count setting: XNNPACK and the kernels share
            // ExecuTorch's process-wide pool, sized by the runtime to the performance cores.
            "threads_note": "ExecuTorch's Swift API cannot size its thread pool; threads are not applied",
        ]
        if let meta = try? module?.methodMetadata("forward") {
            details["backends"] = meta.backendNames
            details["instruction_count"] = meta.instructionCount
        }
        return details
    }

    /// Fails early, with both shapes, when the request does not fit the model's one float input;
    /// the runtime's own error for this is a bare code (the native runner's check_model_input).
    func setInput(_ values: [Float], shape: [Int]) throws {
        guard let module else { throw BenchError.failed("the program is not loaded") }
        let meta = try module.methodMetadata("forward")
        guard meta.inputValueTags.count == 1, meta.inputValueTags[0] == .tensor,
              let input = meta.inputTensorMetadata[0] else {
            throw BenchError.failed("the model takes \(meta.inputValueTags.count) inputs; this app "
                                    + "feeds exactly one tensor")
        }
        guard input.dataType == .float else {
            throw BenchError.failed("the model's input is not float32; this app feeds float32")
        }
        // A dynamic-shape input records its upper bounds, so smaller sizes are accepted.
        let fits = input.shape.count == shape.count && zip(shape, input.shape).allSatisfy { $0 <= $1 }
        guard fits else {
            throw BenchError.failed("input_shape \(shape) does not match the model's input \(input.shape)")
        }
        inputs = [Value(Tensor<Float>(values, shape: shape))]
    }

    func run() throws {
        guard let module else { throw BenchError.failed("the program is not loaded") }
        outputs = try module.forward(inputs)
    }

    func firstOutput() throws -> (shape: [Int], values: [Float]) {
        guard let tensor = outputs.first?.anyTensor else {
            throw BenchError.failed("the model's first output is not a tensor")
        }
        let floats = Tensor<Float>(tensor.dataType == .float ? tensor : tensor.copy(to: .float))
        return (floats.shape, floats.scalars())
    }
}
#endif
