// The seam between the measurement protocol and a runtime: what a trial asks of a runtime, how a
// trial ends early, and the runtimes a build has. The app's Core ML, ExecuTorch and LiteRT
// runtimes implement BenchRuntime; the package's tests implement it with a scripted fake.

import Foundation

/// A runtime the app measures with. The timed call is `run()`: the input is copied in before it
/// and the output read after it, so the clock times the runtime and nothing of ours.
protocol BenchRuntime: AnyObject {
    /// The contract's `runtime` name ("coreml", "executorch", "litert").
    static var name: String { get }
    /// The runtime's version, as the status answer and `runtime_versions` give it.
    static var version: String { get }
    /// The library call a sample times (context `timed_call`), in the same words on every runner
    /// for the same span of work: "MLModel.prediction", "Module.forward", "Interpreter.invoke".
    static var timedCall: String { get }
    init()
    /// Work before the load clock starts (Core ML compiles an .mlpackage); details for the context.
    func prepare(artifact: URL, request: RunRequest) throws -> [String: Any]
    /// Read the artifact and get ready to run: the timed load, so nothing else happens in it.
    func load(artifact: URL, request: RunRequest) throws
    /// What the load did (compute units, delegates, threads applied), read after its clock stops.
    var details: [String: Any] { get }
    /// Copy one float32 input of `shape` into the runtime's input tensor (outside every clock).
    func setInput(_ values: [Float], shape: [Int]) throws
    /// One inference on the input last set.
    func run() throws
    /// The first output of the last `run()`, flattened in row-major order.
    func firstOutput() throws -> (shape: [Int], values: [Float])
}

extension BenchRuntime {
    func prepare(artifact: URL, request: RunRequest) throws -> [String: Any] { [:] }
}

/// Why a trial ended early: `unsupported` becomes the result status "unsupported", the rest
/// "run_failed"; the text is the result's `error`, one line the user can act on.
enum BenchError: Error, CustomStringConvertible {
    case unsupported(String)
    case failed(String)

    var description: String {
        switch self {
        case .unsupported(let why), .failed(let why): return why
        }
    }
}

/// Runtime name to a fresh instance, for the runtimes this build has, and the names of every
/// runtime some build can have (for the reason given when one is missing).
struct RuntimeTable {
    private let factories: [String: () -> BenchRuntime]
    let known: [String]

    init(factories: [String: () -> BenchRuntime], known: [String]) {
        self.factories = factories
        self.known = known
    }

    /// The app's table: each runtime type's `init()`.
    init(types: [String: BenchRuntime.Type], known: [String]) {
        self.init(factories: types.mapValues { kind in { kind.init() } }, known: known)
    }

    var names: [String] { factories.keys.sorted() }

    /// A fresh instance for `name`, or the reason this build cannot run it (status "unsupported").
    func make(_ name: String) throws -> BenchRuntime {
        if let factory = factories[name] { return factory() }
        if known.contains(name) {
            throw BenchError.unsupported("this build of the benchmark app has no \(name) runtime: "
                                         + "rebuild it with its package (ios_app/README.md)")
        }
        throw BenchError.unsupported("the benchmark app runs \(known.joined(separator: ", ")), not \(name)")
    }
}
