// Stand-ins for what the core reads from outside the process: a clock that moves only when an
// inference runs, a device whose memory and thermal state are scripted, a runtime that takes a
// scripted time per call, and requests written the way device_runners/contract.py writes them.

import Foundation
import XCTest
@testable import HarnessCore

/// The repository checkout this file sits in (ios_app/HarnessCore/Tests/HarnessCoreTests/...).
let repositoryRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent()  // drops TestSupport.swift
    .deletingLastPathComponent()  // drops HarnessCoreTests
    .deletingLastPathComponent()  // drops Tests
    .deletingLastPathComponent()  // drops HarnessCore
    .deletingLastPathComponent()  // drops ios_app

/// A clock that moves only when told.
final class FakeClock: MonotonicClock {
    var now: UInt64

    init(now: UInt64 = 1_000_000_000) {
        self.now = now
    }

    func nowNs() -> UInt64 { now }

    func advance(ms: Double) {
        now += UInt64((ms * 1e6).rounded())
    }
}

/// The process's memory as the probe reports it: `use` sets the footprint, and the lifetime peak
/// follows it up, never down, as the kernel's does.
final class FakeMemory {
    var footprintKb = 50_000
    var peakKb = 50_000

    func use(_ kb: Int) {
        footprintKb = kb
        peakKb = max(peakKb, kb)
    }
}

final class FakeProbe: DeviceProbe {
    let clock: FakeClock
    let memory = FakeMemory()
    var thermal = "nominal"
    var unix = 1_700_000_000.0
    var reportsPeak = true

    init(clock: FakeClock) {
        self.clock = clock
    }

    func nowNs() -> UInt64 { clock.nowNs() }
    func unixSeconds() -> Double { unix += 1; return unix }
    func footprintKb() -> Int? { memory.footprintKb }
    func lifetimePeakKb() -> Int? { reportsPeak ? memory.peakKb : nil }
    func thermalState() -> String { thermal }
    var isLowPowerModeEnabled: Bool { false }
    var contextFacts: [String: Any] { ["clock": "fake", "memory": "fake footprint"] }
}

/// A runtime that takes `runMs` per inference on the fake clock, doubles its input as its output,
/// and runs the hooks a test gives it (a compile that raises the memory peak, a failing call).
final class FakeRuntime: BenchRuntime {
    static let name = "executorch"
    static let version = "1.5.1-fake"
    static let timedCall = "Module.forward"

    var clock = FakeClock()
    var runMs = 2.0
    var loadMs = 30.0
    var onPrepare: () -> Void = {}
    var onLoad: () -> Void = {}
    var onRun: () -> Void = {}
    var failOnCall = -1
    private(set) var calls = 0
    /// Every input set, in order: the seeded input first, then the check inputs.
    private(set) var inputs: [[Float]] = []
    private var input: [Float] = []
    private var shape: [Int] = []

    required init() {}

    convenience init(clock: FakeClock, runMs: Double = 2.0) {
        self.init()
        self.clock = clock
        self.runMs = runMs
    }

    func prepare(artifact: URL, request: RunRequest) throws -> [String: Any] {
        onPrepare()
        return ["compiled": "fake"]
    }

    func load(artifact: URL, request: RunRequest) throws {
        clock.advance(ms: loadMs)
        onLoad()
    }

    var details: [String: Any] { ["backends": ["XnnpackBackend"]] }

    func setInput(_ values: [Float], shape: [Int]) throws {
        inputs.append(values)
        input = values
        self.shape = shape
    }

    func run() throws {
        calls += 1
        if calls == failOnCall { throw BenchError.failed("the delegate refused the graph") }
        clock.advance(ms: runMs)
        onRun()
    }

    func firstOutput() throws -> (shape: [Int], values: [Float]) {
        (shape, input.map { $0 * 2 })
    }
}

/// A request as device_runners/contract.py's RunRequest.to_json writes it, with `overrides`, and
/// without the fields named in `removing`.
func requestJSON(_ overrides: [String: Any] = [:], removing: [String] = []) -> Data {
    var fields: [String: Any] = [
        "model": "m", "format": "executorch", "runtime": "executorch",
        "artifact_path": "harness/artifacts/m.pte", "artifact_sha256": "ab",
        "input_shape": [1, 2], "threads": 1, "cpu_affinity": NSNull(),
        "warmup_iterations": 3, "warmup_until_settled": false, "min_iterations": 5,
        "min_duration_s": 0.0, "max_iterations": 100_000, "max_duration_s": 120.0, "seed": 0,
        "timeout_s": 600.0, "backend": "", "precision": "fp32", "profile": false,
        "check_inputs_path": "", "schema_version": 3,
    ]
    fields.merge(overrides) { $1 }
    for key in removing { fields[key] = nil }
    return try! JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])
}

func request(_ overrides: [String: Any] = [:], removing: [String] = []) throws -> RunRequest {
    try JSONDecoder().decode(RunRequest.self, from: requestJSON(overrides, removing: removing))
}

/// A fresh root with harness/artifacts/m.pte and harness/requests/, removed when the test ends.
func temporaryRoot(_ test: XCTestCase) throws -> HarnessFiles {
    let root = FileManager.default.temporaryDirectory
        .appendingPathComponent("harnesscore-\(UUID().uuidString)", isDirectory: true)
    for directory in ["harness/artifacts", "harness/requests", "harness/inputs"] {
        try FileManager.default.createDirectory(at: root.appendingPathComponent(directory),
                                                withIntermediateDirectories: true)
    }
    try Data("pte".utf8).write(to: root.appendingPathComponent("harness/artifacts/m.pte"))
    test.addTeardownBlock { try? FileManager.default.removeItem(at: root) }
    return HarnessFiles(root: root)
}

/// Raw little-endian float32 values, as the harness writes check inputs.
func littleEndian(_ values: [Float]) -> Data {
    var data = Data()
    for value in values {
        withUnsafeBytes(of: value.bitPattern.littleEndian) { data.append(contentsOf: $0) }
    }
    return data
}

let fakeDevice = DeviceInfo(deviceId: "fake-iphone", kind: "ios", platform: "ios", productModel: "iPhone13,2")
