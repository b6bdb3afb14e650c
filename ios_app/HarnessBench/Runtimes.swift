// Which runtimes this build of the app has, by the contract's `runtime` names. The harness
// dispatches on `runtime` (contract version 2), never on the format or the file suffix, and
// learns from the status answer which runtimes the app was built with (runner.py `runtimes`).

import Foundation

enum Runtimes {
    /// Every runtime this app can be built with, for the reason given when one is missing.
    static let known = ["coreml", "executorch", "litert"]

    /// Runtime name -> implementation. Core ML is part of iOS; ExecuTorch (Swift package) and
    /// LiteRT (CocoaPods) are compiled in only when their packages are linked, so an app built
    /// without one still builds, and says so instead of crashing.
    static let types: [String: BenchRuntime.Type] = {
        var table: [String: BenchRuntime.Type] = [:]
        table["coreml"] = CoreMLRuntime.self
        #if canImport(ExecuTorch)
        table["executorch"] = ExecuTorchRuntime.self
        #endif
        #if canImport(TensorFlowLite)
        table["litert"] = LiteRTRuntime.self
        #endif
        return table
    }()

    /// What a trial makes its runtime from.
    static var table: RuntimeTable { RuntimeTable(types: types, known: known) }

    /// {runtime: version} for the status answer and `runtime_versions`.
    static var versions: [String: String] {
        types.mapValues { $0.version }
    }

    /// {runtime: [backend]}: delegates beyond a runtime's default, for the harness to measure
    /// one cell each (runner.py `variants`). LiteRT's Core ML delegate comes with the Podfile's
    /// CoreML subspec.
    static var delegates: [String: [String]] {
        types["litert"] != nil ? ["litert": ["coreml"]] : [:]
    }
}
