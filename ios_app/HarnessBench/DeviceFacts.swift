// What the app says about the phone, from UIKit (main-thread API): the result's device block and
// the status answer. The product type comes from uname, which the harness's catalog
// (device_runners/ios/devices.yaml) is keyed by; UIDevice.model only says "iPhone".

import Foundation
import UIKit

enum DeviceFacts {
    /// The product type (iPhone13,2): utsname's machine field.
    static func productType() -> String {
        var system = utsname()
        uname(&system)
        return withUnsafeBytes(of: &system.machine) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    static func appVersion() -> String {
        let info = Bundle.main.infoDictionary ?? [:]
        let short = info["CFBundleShortVersionString"] as? String ?? "?"
        let build = info["CFBundleVersion"] as? String ?? "?"
        return "\(short) (\(build))"
    }

    /// The result's device block. The runner replaces it with its own description from the
    /// catalog (runner.py `describe`); this one says what the app itself saw.
    @MainActor static func deviceInfo() -> DeviceInfo {
        let device = UIDevice.current
        return DeviceInfo(cpuCount: ProcessInfo.processInfo.activeProcessorCount,
                          deviceId: device.identifierForVendor?.uuidString ?? "unknown",
                          kind: "ios", osVersion: "iOS \(device.systemVersion)", platform: "ios",
                          productModel: productType())
    }

    /// The status answer; battery readings need monitoring switched on first.
    @MainActor static func status() -> StatusAnswer {
        let device = UIDevice.current
        device.isBatteryMonitoringEnabled = true
        return StatusAnswer(
            thermalState: DarwinProbe.name(of: ProcessInfo.processInfo.thermalState),
            batteryLevel: device.batteryLevel,
            batteryState: batteryState(device.batteryState),
            lowPowerMode: ProcessInfo.processInfo.isLowPowerModeEnabled,
            runtimes: Runtimes.versions,
            delegates: Runtimes.delegates,
            osVersion: device.systemVersion,
            deviceModel: productType(),
            appVersion: appVersion())
    }

    private static func batteryState(_ state: UIDevice.BatteryState) -> String {
        switch state {
        case .unplugged: return "unplugged"
        case .charging: return "charging"
        case .full: return "full"
        case .unknown: return "unknown"
        @unknown default: return "unknown"
        }
    }
}
