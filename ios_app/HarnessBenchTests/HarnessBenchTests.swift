// XCTest performance tests for the harness's opt-in XCTest mode (device_runners/ios/xctest.py):
//
//   harness run --device iphone12 --models repvit_m1_0 --formats coreml --xctestrun HarnessBench.xctestrun
//
// runs `HarnessBenchTests/HarnessBenchTests/test_{model}_{format}` (the default --xctest-test
// template) and reads every iteration of "Clock Monotonic Time" and "Memory Peak Physical" from
// the result bundle. XCTest reports no load time and no first inference, so both happen before
// `measure`, outside it, and the result says they were not measured.
//
// This target compiles HarnessCore's sources, CoreMLRuntime.swift and DarwinProbe.swift itself
// (project.yml) instead of `@testable import HarnessBench`: the app module imports ExecuTorch,
// which is linked into the app alone, so importing the app here fails ("missing required module"),
// and linking ExecuTorch a second time would register its backends and kernels twice.

import XCTest

final class HarnessBenchTests: XCTestCase {
    /// Iterations per test: XCTest's default of 5 is too few for a median with an interval.
    private static let iterations = 50

    /// RepViT-M1.0 in the `coreml` format, 1x3x224x224, on all compute units, from
    /// Models/repvit_m1_0.mlpackage (ios_app/README.md says how to export it there). Xcode
    /// compiles it into the bundle as an .mlmodelc; a package copied as it is gets compiled here,
    /// before the measurement. Without it the test is skipped, and the harness reports a trial
    /// that measured nothing.
    func test_repvit_m1_0_coreml() throws {
        try measureInference(resource: "repvit_m1_0", extensions: ["mlmodelc", "mlpackage"],
                             runtime: CoreMLRuntime(), format: "coreml", backend: "coreml",
                             shape: [1, 3, 224, 224])
    }

    private func measureInference(resource: String, extensions: [String], runtime: BenchRuntime,
                                  format: String, backend: String, shape: [Int]) throws {
        let bundle = Bundle(for: Self.self)
        guard let url = extensions.lazy.compactMap({ bundle.url(forResource: resource, withExtension: $0) }).first
        else {
            throw XCTSkip("\(resource) is not in the test bundle: export it into "
                          + "ios_app/HarnessBenchTests/Models (ios_app/README.md)")
        }
        let request = RunRequest(artifactPath: url.path, artifactSha256: "", backend: backend,
                                 format: format, inputShape: shape, maxIterations: Self.iterations,
                                 minDurationS: 0, minIterations: Self.iterations, model: resource,
                                 runtime: type(of: runtime).name, schemaVersion: Double(contractSchemaVersion),
                                 threads: 1, warmupIterations: 0)
        _ = try runtime.prepare(artifact: url, request: request)
        try runtime.load(artifact: url, request: request)
        try runtime.setInput(Inputs.seededUniform(shape: shape, seed: 0), shape: shape)
        try runtime.run()  // the first inference: lazy initialisation stays out of the samples

        let options = XCTMeasureOptions()
        options.iterationCount = Self.iterations
        measure(metrics: [XCTClockMetric(), XCTMemoryMetric()], options: options) {
            do {
                try runtime.run()
            } catch {
                XCTFail("inference failed: \(error)")
            }
        }
    }
}
