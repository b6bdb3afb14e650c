// A whole trial against a scripted runtime and device: what it measures, the result it writes
// (checked against device_runners/contract.schema.json), the memory each phase is charged, and
// a run_failed or unsupported answer, never a crash, for everything that can go wrong.

import Foundation
import XCTest
@testable import HarnessCore

final class TrialTests: XCTestCase {
    private var files: HarnessFiles!
    private var clock: FakeClock!
    private var probe: FakeProbe!
    private var runtime: FakeRuntime!

    override func setUpWithError() throws {
        files = try temporaryRoot(self)
        clock = FakeClock()
        probe = FakeProbe(clock: clock)
        runtime = FakeRuntime(clock: clock)
    }

    private func trial(known: [String] = ["coreml", "executorch", "litert"]) -> Trial {
        let runtime = self.runtime!
        return Trial(files: files, runtimes: RuntimeTable(factories: ["executorch": { runtime }], known: known),
                     probe: probe, appVersion: "1.0 (1)")
    }

    /// Writes harness/requests/<name>.json, runs it, and returns the result and the JSON written.
    private func answer(_ name: String, _ body: Data) throws -> (result: RunResult, json: JSONValue) {
        let path = "harness/requests/\(name).json"
        try body.write(to: files.resolve(path))
        let result = try trial().runAndAnswer(requestPath: path, device: fakeDevice)
        XCTAssertFalse(FileManager.default.fileExists(atPath: files.resolve(path).path), "the request stays")
        let written = files.resolve("harness/results/\(name).json")
        XCTAssertTrue(FileManager.default.fileExists(atPath: HarnessFiles.doneURL(for: written).path))
        return (result, try JSONValue.parse(Data(contentsOf: written)))
    }

    private func assertMatchesTheSchema(_ json: JSONValue, _ name: String,
                                        file: StaticString = #filePath, line: UInt = #line) throws {
        let problems = try SchemaChecker.contract().problems(json, against: "#/$defs/RunResult")
        XCTAssertEqual(problems, [], "\(name)'s result breaks contract.schema.json", file: file, line: line)
    }

    func testATrialMeasuresAnswersAndMarksTheResultDone() throws {
        try littleEndian([1, 2, 3, 4]).write(to: files.resolve("harness/inputs/x.bin"))
        let (result, json) = try answer("t1", requestJSON(["check_inputs_path": "harness/inputs/x.bin",
                                                           "backend": "xnnpack", "min_iterations": 8]))
        XCTAssertEqual(result.status, .ok, result.error ?? "")
        try assertMatchesTheSchema(json, "t1")
        XCTAssertEqual(json["status"], .string("ok"))
        XCTAssertEqual(json["load_ms"], .number(30))
        XCTAssertEqual(json["first_inference_ms"], .number(2))
        XCTAssertEqual(json["warmup_samples_ms"], .array(Array(repeating: .number(2), count: 3)))
        XCTAssertEqual(json["samples_ms"], .array(Array(repeating: .number(2), count: 8)))
        XCTAssertEqual(json["runtime_versions"], .object(["executorch": .string("1.5.1-fake")]))
        XCTAssertEqual(json["backend"], .string("xnnpack"))
        XCTAssertEqual(json["schema_version"], .number(Double(contractSchemaVersion)))
        let outputs = try XCTUnwrap(json["check_outputs"]?.array)
        XCTAssertEqual(outputs.compactMap { $0["values"] }, [.array([.number(2), .number(4)]), .array([.number(6), .number(8)])])
        XCTAssertEqual(json["thermal"], .object(["before": .string("nominal"), "after": .string("nominal")]))
        let context = try XCTUnwrap(json["context"])
        for key in ["timed_start_unix", "timed_end_unix", "thermal_readings", "warmup", "timed_stop_reason",
                    "timed_duration_s", "input", "backends", "prepare_ms", "peak_rss_load_method",
                    "peak_rss_inference_method", "clock", "memory", "low_power_mode"] {
            XCTAssertNotNil(context[key], "context lacks \(key)")
        }
        XCTAssertEqual(context["timed_call"], .string("Module.forward"))
        XCTAssertEqual(context["timed_stop_reason"], .string("minimums_met"))
        XCTAssertEqual(context["input"]?["seed"], .number(0))
        let start = try XCTUnwrap(context["timed_start_unix"]?.number)
        XCTAssertGreaterThan(try XCTUnwrap(context["timed_end_unix"]?.number), start)
        XCTAssertEqual(context["thermal_readings"]?["after"]?["state"], .string("nominal"))
    }

    func testEveryAnswerMatchesTheContractSchemaAndSaysWhatWentWrong() throws {
        let cases: [(name: String, body: Data, status: String, error: String)] = [
            ("bad", Data("{\"model\": \"m\", \"format\": \"f\", \"threads\": 0".utf8), "run_failed",
             "the benchmark app cannot read the request: "),
            ("version", requestJSON(["schema_version": 2]), "run_failed",
             "the request is contract version 2, this app speaks \(contractSchemaVersion): rebuild it from "
                + "this checkout (ios_app/README.md)"),
            ("litert", requestJSON(["runtime": "litert"]), "unsupported",
             "this build of the benchmark app has no litert runtime: rebuild it with its package (ios_app/README.md)"),
            ("onnx", requestJSON(["runtime": "onnxruntime"]), "unsupported",
             "the benchmark app runs coreml, executorch, litert, not onnxruntime"),
            ("missing", requestJSON(["artifact_path": "harness/artifacts/none.pte"]), "run_failed",
             "artifact not found: harness/artifacts/none.pte"),
        ]
        for item in cases {
            let (result, json) = try answer(item.name, item.body)
            try assertMatchesTheSchema(json, item.name)
            XCTAssertEqual(json["status"], .string(item.status), item.name)
            XCTAssertEqual(json["samples_ms"], .array([]), item.name)
            XCTAssertTrue((result.error ?? "").hasPrefix(item.error), "\(item.name): \(result.error ?? "")")
        }
        // What the app could read of a request it cannot decode still names the cell.
        let (_, version) = try answer("version2", requestJSON(["schema_version": 2, "model": "repvit_m1_0"]))
        XCTAssertEqual(version["model"], .string("repvit_m1_0"))
    }

    func testARuntimeThatFailsMidRunKeepsWhatWasMeasuredBefore() throws {
        runtime.failOnCall = 3  // the first inference and one warm-up iteration succeed
        let (result, json) = try answer("t", requestJSON())
        try assertMatchesTheSchema(json, "t")
        XCTAssertEqual(result.status, .runFailed)
        XCTAssertEqual(result.error, "the delegate refused the graph")
        XCTAssertEqual(result.loadMs, 30)
        XCTAssertEqual(result.firstInferenceMs, 2)
        XCTAssertEqual(result.warmupSamplesMs, [2])
    }

    func testTheSchemaCheckerRejectsWhatTheSchemaForbids() throws {
        let (_, json) = try answer("t", requestJSON())
        guard case .object(var fields) = json else { return XCTFail("the result is not an object") }
        let schema = try SchemaChecker.contract()
        fields["status"] = .string("finished")
        fields["samples_ms"] = .array([.number(-1)])
        fields["device"] = nil
        let problems = schema.problems(.object(fields), against: "#/$defs/RunResult")
        XCTAssertTrue(problems.contains { $0.contains("lacks device") }, "\(problems)")
        XCTAssertTrue(problems.contains { $0.hasPrefix("/status") }, "\(problems)")
        XCTAssertTrue(problems.contains { $0.hasPrefix("/samples_ms/0") }, "\(problems)")
    }

    func testTheTrialFeedsTheRequestsSeedAndSeedZeroWithoutOne() throws {
        _ = try answer("seven", requestJSON(["seed": 7]))
        XCTAssertEqual(runtime.inputs.first, Inputs.seededUniform(shape: [1, 2], seed: 7))
        runtime = FakeRuntime(clock: clock)
        let (_, json) = try answer("none", requestJSON(removing: ["seed"]))
        XCTAssertEqual(runtime.inputs.first, Inputs.seededUniform(shape: [1, 2], seed: 0))
        XCTAssertEqual(json["context"]?["input"]?["seed"], .number(0))
    }

    func testTheLoadIsChargedItsOwnPeakNotTheCompilationsBefore() throws {
        // Core ML's compilation (prepare) peaks at 900 MB and lets go; the load settles at 300 MB.
        let memory = probe.memory
        runtime.onPrepare = { memory.use(900_000); memory.use(120_000) }
        runtime.onLoad = { memory.use(300_000) }
        let (result, json) = try answer("compiled", requestJSON())
        XCTAssertEqual(result.peakRssLoadKb, 300_000)
        XCTAssertEqual(json["context"]?["peak_rss_load_method"], .string(PeakMethod.loadFootprint))
        XCTAssertEqual(json["context"]?["lifetime_peak_before_load_kb"], .number(900_000))
        // Inference never passes 900 MB either: the highest footprint between iterations stands in.
        XCTAssertEqual(result.peakRssInferenceKb, 300_000)
        XCTAssertEqual(json["context"]?["peak_rss_inference_method"], .string(PeakMethod.inferenceSampled))
    }

    func testAPhaseThatRaisesTheLifetimePeakIsChargedItExactly() throws {
        let memory = probe.memory
        runtime.onLoad = { memory.use(400_000); memory.use(300_000) }
        runtime.onRun = { memory.use(450_000) }
        let (result, json) = try answer("raised", requestJSON())
        XCTAssertEqual(result.peakRssLoadKb, 400_000)
        XCTAssertEqual(json["context"]?["peak_rss_load_method"], .string(PeakMethod.loadSetPeak))
        XCTAssertEqual(result.peakRssInferenceKb, 450_000)
        XCTAssertEqual(json["context"]?["peak_rss_inference_method"], .string(PeakMethod.inferenceSetPeak))
    }

    func testWithoutALifetimePeakTheFootprintStandsInAndSaysSo() throws {
        probe.reportsPeak = false
        let memory = probe.memory
        runtime.onLoad = { memory.use(200_000) }
        let (result, json) = try answer("nopeak", requestJSON())
        XCTAssertEqual(result.peakRssLoadKb, 200_000)
        XCTAssertEqual(json["context"]?["peak_rss_load_method"], .string(PeakMethod.noPeak))
    }

    func testAResultJSONCannotHoldBecomesARunFailedAnswer() throws {
        var result = RunResult(device: fakeDevice, format: "executorch", model: "m", samplesMs: [1, .nan],
                               schemaVersion: .integer(contractSchemaVersion), status: .ok)
        result.loadMs = 1
        let json = try JSONValue.parse(Trial.encode(result))
        XCTAssertEqual(json["status"], .string("run_failed"))
        XCTAssertTrue(json["error"]?.string?.hasPrefix("the app's result cannot be written as JSON") ?? false)
        try assertMatchesTheSchema(json, "nan")
        XCTAssertThrowsError(try jsonContext(["input": ["scale": Double.infinity]])) { error in
            XCTAssertEqual("\(error)", "context/input/scale holds a value JSON cannot (NaN, infinity or a non-JSON type)")
        }
    }
}
