// The device around a trial, as the trial reads it: the clock, the process's memory as iOS
// accounts it, the thermal state and Low Power Mode. The app's DarwinProbe reads them from
// Darwin and ProcessInfo (HarnessBench/DarwinProbe.swift); the tests script them.

import Foundation

protocol DeviceProbe: MonotonicClock {
    /// Seconds since the epoch: `timed_start_unix` and `timed_end_unix`, which the harness cuts
    /// its battery readings to.
    func unixSeconds() -> Double
    /// The process's current footprint in kB (`phys_footprint` on iOS); nil when unreadable.
    func footprintKb() -> Int?
    /// The highest footprint since the process started, in kB; nil where the kernel does not say.
    /// It cannot be reset, so a phase's own peak is known exactly only when that phase raised it.
    func lifetimePeakKb() -> Int?
    /// The thermal state in the words the harness stores: nominal, fair, serious, critical.
    func thermalState() -> String
    /// Low Power Mode slows the CPU and GPU: recorded with every result.
    var isLowPowerModeEnabled: Bool { get }
    /// Facts for the result's context: which clock and which memory measure (`clock`, `memory`).
    var contextFacts: [String: Any] { get }
}

extension DeviceProbe {
    func unixSeconds() -> Double { Date().timeIntervalSince1970 }
}

/// One thermal reading as device_runners/sensors/thermal.py's ThermalReading.to_dict writes it.
/// iOS gives apps no temperatures, so `temps_c` is always empty.
func thermalReading(_ state: String) -> [String: Any] {
    ["state": state, "temps_c": [String: Double]()]
}

/// The highest footprint read between iterations: a lower bound of a phase's peak, for when the
/// lifetime peak was set before that phase.
final class MemorySampler {
    private let probe: DeviceProbe
    private(set) var maxKb: Int?

    init(probe: DeviceProbe) {
        self.probe = probe
    }

    func sample() {
        guard let now = probe.footprintKb() else { return }
        maxKb = max(maxKb ?? now, now)
    }
}

/// What a phase's peak memory figure is, for `peak_rss_load_method` and
/// `peak_rss_inference_method`: the lifetime peak cannot be reset, so a phase's own peak is exact
/// only when that phase raised the lifetime peak; otherwise a footprint read in or after the
/// phase stands in, a lower bound.
enum PeakMethod {
    static let loadSetPeak = "lifetime peak (set during the load)"
    static let loadFootprint = "footprint after the load, a lower bound (an earlier phase, such as "
        + "Core ML's compilation, set the lifetime peak)"
    static let inferenceSetPeak = "lifetime peak (set during inference)"
    static let inferenceSampled = "highest footprint between iterations, a lower bound (an earlier "
        + "phase set the lifetime peak)"
    static let noPeak = "footprint, a lower bound (the kernel reports no lifetime peak)"

    /// The load's own peak, from the lifetime peak before and after it and the footprints around it.
    static func load(peakBefore: Int?, peakAfter: Int?, footprintBefore: Int?,
                     footprintAfter: Int?) -> (kb: Int?, method: String) {
        let footprint = [footprintBefore, footprintAfter].compactMap { $0 }.max()
        guard let before = peakBefore, let after = peakAfter else { return (footprint, noPeak) }
        return after > before ? (after, loadSetPeak) : (footprint, loadFootprint)
    }

    /// The inference phase's peak (first inference, warm-up, timed loop), from the lifetime peak
    /// after the load and now, and the footprints sampled between iterations.
    static func inference(peakAfterLoad: Int?, peakNow: Int?, sampled: Int?) -> (kb: Int?, method: String) {
        guard let before = peakAfterLoad, let now = peakNow else { return (sampled, noPeak) }
        return now > before ? (now, inferenceSetPeak) : (sampled, inferenceSampled)
    }
}
