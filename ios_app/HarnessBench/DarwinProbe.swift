// The trial's DeviceProbe on an iPhone, from Darwin and ProcessInfo alone (no UIKit, so the XCTest
// target compiles it too): CLOCK_UPTIME_RAW, the process's phys_footprint and its lifetime peak
// from TASK_VM_INFO, the thermal state and Low Power Mode.

import Darwin
import Foundation

struct DarwinProbe: DeviceProbe {
    /// Nanoseconds of CLOCK_UPTIME_RAW: monotonic, not slewed by NTP, the clock of
    /// mach_absolute_time. It stops while the phone sleeps, which a trial (idle timer off, app in
    /// front) never does.
    func nowNs() -> UInt64 { clock_gettime_nsec_np(CLOCK_UPTIME_RAW) }

    /// The current footprint, in kB: `phys_footprint` of TASK_VM_INFO, what Xcode's memory gauge
    /// and the jetsam limit count (not resident size).
    func footprintKb() -> Int? {
        Self.vmInfo().map { Int($0.info.phys_footprint / 1024) }
    }

    /// The kernel's lifetime peak of the footprint (`ledger_phys_footprint_peak`, revision 3 of
    /// the structure), in kB; nil where the kernel does not fill that field (it reports how many
    /// words it filled).
    func lifetimePeakKb() -> Int? {
        guard let read = Self.vmInfo(),
              let offset = MemoryLayout<task_vm_info_data_t>.offset(of: \.ledger_phys_footprint_peak)
        else { return nil }
        let (info, words) = read
        let needed = (offset + MemoryLayout<Int64>.size) / MemoryLayout<integer_t>.size
        return words >= needed ? Int(info.ledger_phys_footprint_peak / 1024) : nil
    }

    func thermalState() -> String { Self.name(of: ProcessInfo.processInfo.thermalState) }

    var isLowPowerModeEnabled: Bool { ProcessInfo.processInfo.isLowPowerModeEnabled }

    var contextFacts: [String: Any] {
        ["clock": "CLOCK_UPTIME_RAW", "memory": "phys_footprint (TASK_VM_INFO)"]
    }

    /// ProcessInfo's thermal state in the words the harness stores.
    static func name(of state: ProcessInfo.ThermalState) -> String {
        switch state {
        case .nominal: return "nominal"
        case .fair: return "fair"
        case .serious: return "serious"
        case .critical: return "critical"
        @unknown default: return "unknown"
        }
    }

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
}
