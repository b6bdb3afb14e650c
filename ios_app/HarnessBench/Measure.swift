// The runtime-independent measurement protocol: the clock, warm-up by count or until settled, the
// timed loop, peak memory and the thermal state. It follows device_runners/timing.py and
// device_runners/native/harness_runner.cpp exactly, so a sample means the same on every runner.

import Darwin
import Foundation

/// A runtime the app measures with. The timed call is `run()`: the input is copied in before it
/// and the output read after it, so the clock times the runtime and nothing of ours.
protocol BenchRuntime: AnyObject {
    /// The contract's `runtime` name ("coreml", "executorch", "litert").
    static var name: String { get }
    /// The runtime's version, as the status answer and `runtime_versions` give it.
    static var version: String { get }
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

// MARK: - Clock

/// Nanoseconds of CLOCK_UPTIME_RAW: monotonic, not slewed by NTP, the clock of mach_absolute_time.
/// It stops while the phone sleeps, which a trial (idle timer off, app in front) never does.
@inline(__always) func nowNs() -> UInt64 { clock_gettime_nsec_np(CLOCK_UPTIME_RAW) }

@inline(__always) func msBetween(_ start: UInt64, _ end: UInt64) -> Double { Double(end - start) / 1e6 }

// MARK: - Warm-up and timed loop

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

/// The loops of one trial. `sample()` is called after every iteration, outside its timing, for
/// the memory high-water mark.
struct Loops {
    let runtime: BenchRuntime
    let request: RunRequest
    let memory: MemorySampler

    private func once() throws -> Double {
        let start = nowNs()
        try runtime.run()
        let sample = msBetween(start, nowNs())
        memory.sample()
        return sample
    }

    /// Warm-up samples, and what was done (`context["warmup"]`). By count: exactly
    /// `warmup_iterations`. Until settled: at least that many, then on until `Settle.settled`,
    /// bounded by `max_iterations` and min(10 s, `max_duration_s`), as timing.py does.
    func warmUp(into samples: inout [Double]) throws -> [String: Any] {
        let minimum = request.warmupIterations
        guard request.warmupUntilSettled ?? false else {
            while samples.count < minimum { samples.append(try once()) }
            return ["mode": "count", "iterations": samples.count]
        }
        let maxNs = min(Settle.maxSeconds, request.maxDurationS ?? 120.0) * 1e9
        let start = nowNs()
        while true {
            samples.append(try once())
            if samples.count >= minimum && Settle.settled(samples) {
                return ["mode": "settle", "iterations": samples.count, "settled": true]
            }
            if samples.count >= request.maxIterations || Double(nowNs() - start) >= maxNs {
                return ["mode": "settle", "iterations": samples.count, "settled": false]
            }
        }
    }

    /// Timed samples until both `min_iterations` and `min_duration_s` are reached, or either
    /// maximum; at least one, since an ok result must carry one. Returns why it stopped.
    func timed(into samples: inout [Double]) throws -> (stopReason: String, durationS: Double) {
        let maxDuration = request.maxDurationS ?? 120.0
        let start = nowNs()
        while true {
            let elapsed = Double(nowNs() - start) / 1e9
            if samples.count >= request.maxIterations { return ("max_iterations", elapsed) }
            if samples.count >= request.minIterations && elapsed >= request.minDurationS {
                return ("minimums_met", elapsed)
            }
            if samples.count >= 1 && elapsed >= maxDuration { return ("max_duration_s", elapsed) }
            samples.append(try once())
        }
    }
}

// MARK: - Memory

/// The process's memory as iOS accounts it: `phys_footprint` of TASK_VM_INFO (what Xcode's gauge
/// and the jetsam limit use, not resident size), and the kernel's lifetime peak of it
/// (`ledger_phys_footprint_peak`, revision 3 of the structure). The peak cannot be reset, so a
/// phase's own peak is known exactly only when that phase set a new one (see Trial).
enum Memory {
    private static func vmInfo() -> (info: task_vm_info_data_t, words: Int)? {
        var info = task_vm_info_data_t()
        let words = MemoryLayout<task_vm_info_data_t>.size / MemoryLayout<integer_t>.size
        var count = mach_msg_type_number_t(words)
        let status = withUnsafeMutablePointer(to: &info) {
            $0.withMemoryRebound(to: integer_t.self, capacity: Int(count)) {
                task_info(mach_task_self_, task_flavor_t(TASK_VM_INFO), $0, &count)
            }
        }
        return status == KERN_SUCCESS ? (info, Int(count)) : nil
    }

    /// The current footprint, in kB.
    static func footprintKb() -> Int? {
        vmInfo().map { Int($0.info.phys_footprint / 1024) }
    }

    /// The highest footprint since the process started, in kB; nil where the kernel does not
    /// fill that field (it reports how many words it filled).
    static func lifetimePeakKb() -> Int? {
        guard let (info, words) = vmInfo(),
              let offset = MemoryLayout<task_vm_info_data_t>.offset(of: \.ledger_phys_footprint_peak)
        else { return nil }
        let needed = (offset + MemoryLayout<Int64>.size) / MemoryLayout<integer_t>.size
        return words >= needed ? Int(info.ledger_phys_footprint_peak / 1024) : nil
    }
}

/// The highest footprint read between iterations: a lower bound of a phase's peak, for when the
/// lifetime peak was set before that phase.
final class MemorySampler {
    private(set) var maxKb: Int?

    func sample() {
        guard let now = Memory.footprintKb() else { return }
        maxKb = max(maxKb ?? now, now)
    }
}

// MARK: - Thermal

/// ProcessInfo's thermal state in the words the harness stores (nominal, fair, serious,
/// critical). iOS gives apps no temperatures, so a reading's `temps_c` is always empty.
enum Thermal {
    static func state(_ state: ProcessInfo.ThermalState = ProcessInfo.processInfo.thermalState) -> String {
        switch state {
        case .nominal: return "nominal"
        case .fair: return "fair"
        case .serious: return "serious"
        case .critical: return "critical"
        @unknown default: return "unknown"
        }
    }

    /// One reading as device_runners/sensors/thermal.py's ThermalReading.to_dict writes it.
    static func reading(_ state: String) -> [String: Any] {
        ["state": state, "temps_c": [String: Double]()]
    }
}
