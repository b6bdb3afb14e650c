// The warm-up and timed loops on a fake clock: the same samples device_runners/timing.py takes
// (Fixtures/loops.json holds timing.py's own answers; tests/test_ios_app.py fails when they no
// longer are), and the counts and stop reasons of each rule.

import Foundation
import XCTest
@testable import HarnessCore

/// One case of Fixtures/loops.json: a request and scripted inference times in, timing.py's warm-up
/// samples, whether it settled (null when warming up by count) and timed samples out.
private struct LoopCase: Decodable {
    let name: String
    let request: RunRequest
    let durationsMs: [Double]
    let warmupMs: [Double]
    let settled: Bool?
    let samplesMs: [Double]

    enum CodingKeys: String, CodingKey {
        case name, request, settled
        case durationsMs = "durations_ms"
        case warmupMs = "warmup_ms"
        case samplesMs = "samples_ms"
    }
}

private struct LoopFixture: Decodable {
    let cases: [LoopCase]
}

/// Loops whose every inference takes the next of `durations` ms on `clock` (the last repeats).
private func scripted(_ clock: FakeClock, _ request: RunRequest, _ durations: [Double]) -> Loops {
    var calls = 0
    return Loops(clock: clock, request: request, runOnce: {
        clock.advance(ms: durations[min(calls, durations.count - 1)])
        calls += 1
    })
}

final class LoopsTests: XCTestCase {
    func testTheLoopsTakeTimingPysSamplesOnTheSameFakeClock() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Fixtures/loops.json")
        let fixture = try JSONDecoder().decode(LoopFixture.self, from: Data(contentsOf: url))
        XCTAssertGreaterThanOrEqual(fixture.cases.count, 5)
        for loopCase in fixture.cases {
            let loops = scripted(FakeClock(now: 0), loopCase.request, loopCase.durationsMs)
            var warmup: [Double] = []
            let done = try loops.warmUp(into: &warmup)
            var samples: [Double] = []
            _ = try loops.timed(into: &samples)
            XCTAssertEqual(warmup, loopCase.warmupMs, loopCase.name)
            XCTAssertEqual(done["settled"] as? Bool, loopCase.settled, loopCase.name)
            XCTAssertEqual(samples, loopCase.samplesMs, loopCase.name)
        }
    }

    func testWarmUpByCountRunsExactlyWarmupIterations() throws {
        let clock = FakeClock()
        var samples: [Double] = []
        let done = try scripted(clock, try request(["warmup_iterations": 3]), [4, 3, 2]).warmUp(into: &samples)
        XCTAssertEqual(samples, [4, 3, 2])
        XCTAssertEqual(done["mode"] as? String, "count")
        XCTAssertEqual(done["iterations"] as? Int, 3)
        XCTAssertNil(done["settled"])
    }

    func testWarmUpUntilSettledStopsWhenTheMediansAgreeNeverBelowTheMinimum() throws {
        // Slow first, then flat: settles once two windows of 10 past the slow start's median agree.
        let durations = (0..<5).map { 10.0 - Double($0) } + Array(repeating: 2.0, count: 100)
        var samples: [Double] = []
        let settle = try request(["warmup_iterations": 0, "warmup_until_settled": true])
        let done = try scripted(FakeClock(), settle, durations).warmUp(into: &samples)
        XCTAssertEqual(done["settled"] as? Bool, true)
        XCTAssertEqual(samples.count, 21)
        var longer: [Double] = []
        let atLeast40 = try request(["warmup_iterations": 40, "warmup_until_settled": true])
        _ = try scripted(FakeClock(), atLeast40, [2]).warmUp(into: &longer)
        XCTAssertEqual(longer.count, 40)
    }

    func testWarmUpThatNeverSettlesStopsAtTenSecondsOrMaxIterations() throws {
        let growing = (0..<10_000).map { min(10 * pow(1.05, Double($0)), 1e4) }
        var samples: [Double] = []
        let settle = try request(["warmup_iterations": 0, "warmup_until_settled": true])
        let done = try scripted(FakeClock(), settle, growing).warmUp(into: &samples)
        XCTAssertEqual(done["settled"] as? Bool, false)
        XCTAssertGreaterThanOrEqual(samples.reduce(0, +), 10_000, "runs until 10 s")
        XCTAssertLessThan(samples.dropLast().reduce(0, +), 10_000, "and stops at the first sample past it")
        var capped: [Double] = []
        let seven = try request(["warmup_iterations": 0, "warmup_until_settled": true, "min_iterations": 5,
                                 "max_iterations": 7])
        _ = try scripted(FakeClock(), seven, growing).warmUp(into: &capped)
        XCTAssertEqual(capped.count, 7)
    }

    func testTimedIterationsRunToBothMinimumsKeepingEverySample() throws {
        var samples: [Double] = []
        let both = try request(["min_iterations": 5, "min_duration_s": 0.2])
        let outcome = try scripted(FakeClock(), both, [10, 12, 9, 11]).timed(into: &samples)
        XCTAssertEqual(outcome.stopReason, "minimums_met")
        let expected: [Double] = [10, 12, 9, 11] + Array(repeating: 11, count: 15)  // 19 reach 0.2 s
        XCTAssertEqual(samples, expected)
        XCTAssertGreaterThanOrEqual(outcome.durationS, 0.2)
        var byCount: [Double] = []
        _ = try scripted(FakeClock(), try request(["min_iterations": 50]), [1]).timed(into: &byCount)
        XCTAssertEqual(byCount.count, 50)
    }

    func testTimedIterationsStopAtEitherMaximumWithAtLeastOneSample() throws {
        var capped: [Double] = []
        let twelve = try request(["min_iterations": 10, "min_duration_s": 5.0, "max_iterations": 12])
        let byIterations = try scripted(FakeClock(), twelve, [1]).timed(into: &capped)
        XCTAssertEqual(byIterations.stopReason, "max_iterations")
        XCTAssertEqual(capped.count, 12)
        var timedOut: [Double] = []
        let tenth = try request(["min_iterations": 1000, "max_duration_s": 0.1])
        let byDuration = try scripted(FakeClock(), tenth, [10]).timed(into: &timedOut)
        XCTAssertEqual(byDuration.stopReason, "max_duration_s")
        XCTAssertEqual(timedOut.count, 10)
        var slow: [Double] = []
        let none = try request(["min_iterations": 5, "max_duration_s": 0.0])
        let atOnce = try scripted(FakeClock(), none, [500]).timed(into: &slow)
        XCTAssertEqual(atOnce.stopReason, "max_duration_s")
        XCTAssertEqual(slow.count, 1)
    }

    func testTheSettleRuleIsTimingPys() {
        XCTAssertFalse(Settle.settled(Array(repeating: 1.0, count: 19)))
        XCTAssertTrue(Settle.settled(Array(repeating: 1.0, count: 20)))
        XCTAssertTrue(Settle.settled(Array(repeating: 1.0, count: 10) + Array(repeating: 1.019, count: 10)))
        XCTAssertFalse(Settle.settled(Array(repeating: 1.0, count: 10) + Array(repeating: 1.03, count: 10)))
        // Medians: one preempted iteration does not hold the warm-up open.
        XCTAssertTrue(Settle.settled(Array(repeating: 1.0, count: 19) + [50.0]))
    }
}
