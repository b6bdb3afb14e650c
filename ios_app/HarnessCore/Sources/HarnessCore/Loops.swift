// The runtime-independent measurement protocol: warm-up by count or until settled, then timed
// iterations until both minimums or either maximum, every sample kept. It follows
// device_runners/timing.py, device_runners/native/harness_runner.cpp and the Android app's
// Loops.kt, so a sample means the same on every runner. The clock is injected: the app passes
// CLOCK_UPTIME_RAW (DarwinProbe), the tests a fake that moves only when an inference runs, on
// which Tests/HarnessCoreTests/LoopsTests.swift replays timing.py's own answers.

import Foundation

/// A monotonic clock in nanoseconds.
protocol MonotonicClock {
    func nowNs() -> UInt64
}

/// Milliseconds between two readings of a MonotonicClock.
func msBetween(_ start: UInt64, _ end: UInt64) -> Double {
    end > start ? Double(end - start) / 1e6 : 0
}

/// contract.py's RunRequest.max_duration_s, for a request that leaves it out.
let defaultMaxDurationS = 120.0

/// The settle rule of device_runners/timing.py: the median of the last `window` warm-up samples
/// within `tolerance` of the median of the `window` before them. Medians, not means, so one
/// preempted iteration does not hold the warm-up open.
enum Settle {
    static let window = 10
    static let tolerance = 0.02
    static let maxSeconds = 10.0  // SETTLE_MAX_S

    static func settled(_ samples: [Double]) -> Bool {
        guard samples.count >= 2 * window else { return false }
        let last = samples.suffix(window).sorted()[window / 2]
        let before = samples.suffix(2 * window).prefix(window).sorted()[window / 2]
        return abs(last - before) <= tolerance * before
    }
}

/// How the timed loop ended: `stopReason` is minimums_met, max_iterations or max_duration_s.
struct TimedOutcome: Equatable {
    let stopReason: String
    let durationS: Double
}

/// The loops of one trial. `runOnce` is the timed call (one inference on the input already set);
/// `afterEach` runs after every iteration, outside its timing (the memory high-water mark).
struct Loops {
    let clock: MonotonicClock
    let request: RunRequest
    let runOnce: () throws -> Void
    var afterEach: () -> Void = {}

    private var maxDurationS: Double { request.maxDurationS ?? defaultMaxDurationS }

    /// One timed call, in milliseconds.
    func once() throws -> Double {
        let start = clock.nowNs()
        try runOnce()
        let sample = msBetween(start, clock.nowNs())
        afterEach()
        return sample
    }

    /// Warm-up samples into `samples`, and what was done (`context["warmup"]`). By count: exactly
    /// `warmup_iterations`. Until settled: at least that many, then on until `Settle.settled`,
    /// bounded by `max_iterations` and min(10 s, `max_duration_s`), as timing.py does.
    func warmUp(into samples: inout [Double]) throws -> [String: Any] {
        let minimum = request.warmupIterations
        guard request.warmupUntilSettled ?? false else {
            while samples.count < minimum { samples.append(try once()) }
            return ["mode": "count", "iterations": samples.count]
        }
        let maxNs = min(Settle.maxSeconds, maxDurationS) * 1e9
        let start = clock.nowNs()
        while true {
            samples.append(try once())
            if samples.count >= minimum && Settle.settled(samples) {
                return ["mode": "settle", "iterations": samples.count, "settled": true]
            }
            if samples.count >= request.maxIterations || Double(clock.nowNs() - start) >= maxNs {
                return ["mode": "settle", "iterations": samples.count, "settled": false]
            }
        }
    }

    /// Timed samples into `samples` until both `min_iterations` and `min_duration_s` are reached,
    /// or either maximum; at least one, since an ok result must carry one.
    func timed(into samples: inout [Double]) throws -> TimedOutcome {
        let start = clock.nowNs()
        while true {
            let elapsed = Double(clock.nowNs() - start) / 1e9
            if samples.count >= request.maxIterations {
                return TimedOutcome(stopReason: "max_iterations", durationS: elapsed)
            }
            if samples.count >= request.minIterations && elapsed >= request.minDurationS {
                return TimedOutcome(stopReason: "minimums_met", durationS: elapsed)
            }
            if !samples.isEmpty && elapsed >= maxDurationS {
                return TimedOutcome(stopReason: "max_duration_s", durationS: elapsed)
            }
            samples.append(try once())
        }
    }
}
