// The file protocol with the harness (device_runners/ios/protocol.py), in the app's Documents,
// which the harness reaches through devicectl or pymobiledevice3 (UIFileSharingEnabled):
//
//   harness/artifacts/..., harness/inputs/...   pushed by the harness; requests name them
//   harness/requests/<trial>.json               a RunRequest, paths relative to Documents
//   harness/results/<trial>.json, .done         the RunResult, then the marker
//   harness/status/<probe>.json, .done          the status answer, then the marker

import Foundation
import UIKit

enum HarnessFiles {
    static let requestArgument = "--harness-request"  // protocol.REQUEST_ARG
    static let statusArgument = "--harness-status"    // protocol.STATUS_ARG
    static let resultsDirectory = "harness/results"

    static var documents: URL {
        FileManager.default.urls(for: .documentDirectory, in: .userDomainMask)[0]
    }

    /// A path the harness gave, relative to Documents.
    static func inDocuments(_ relative: String) -> URL {
        documents.appendingPathComponent(relative)
    }

    /// The value after `flag` in the launch arguments (devicectl passes them after the bundle id).
    static func argument(_ flag: String, in arguments: [String]) -> String? {
        guard let index = arguments.firstIndex(of: flag), index + 1 < arguments.count else { return nil }
        return arguments[index + 1]
    }

    /// harness/results/<trial>.json for harness/requests/<trial>.json.
    static func resultURL(forRequest request: URL) -> URL {
        let trial = request.deletingPathExtension().lastPathComponent
        return inDocuments(resultsDirectory).appendingPathComponent("\(trial).json")
    }

    /// The marker beside a JSON answer: <name>.done, written after the answer itself.
    static func doneURL(for answer: URL) -> URL {
        answer.deletingPathExtension().appendingPathExtension("done")
    }

    /// Writes `data`, then the `.done` marker. `.atomic` writes to a temporary name and renames
    /// it, so the harness, which polls for the marker, never copies half an answer.
    static func answer(_ data: Data, at url: URL) throws {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(),
                                                withIntermediateDirectories: true)
        try data.write(to: url, options: .atomic)
        try Data("ok".utf8).write(to: doneURL(for: url), options: .atomic)
    }
}

/// The status answer (protocol.py's docstring): what the runner's `open` and thermal gate read.
struct StatusAnswer: Encodable {
    let thermalState: String
    let batteryLevel: Float      // 0...1, or -1 when iOS does not know
    let batteryState: String     // unplugged, charging, full, unknown
    let lowPowerMode: Bool
    let runtimes: [String: String]
    let delegates: [String: [String]]  // beyond each runtime's default: {"litert": ["coreml"]}
    let osVersion: String
    let deviceModel: String      // the product type, iPhone13,2
    let appVersion: String

    enum CodingKeys: String, CodingKey {
        case thermalState = "thermal_state"
        case batteryLevel = "battery_level"
        case batteryState = "battery_state"
        case lowPowerMode = "low_power_mode"
        case runtimes = "runtimes"
        case delegates = "delegates"
        case osVersion = "os_version"
        case deviceModel = "device_model"
        case appVersion = "app_version"
    }

    /// UIDevice is main-thread API; battery readings need monitoring switched on first.
    @MainActor static func current() -> StatusAnswer {
        let device = UIDevice.current
        device.isBatteryMonitoringEnabled = true
        return StatusAnswer(
            thermalState: Thermal.state(),
            batteryLevel: device.batteryLevel,
            batteryState: batteryState(device.batteryState),
            lowPowerMode: ProcessInfo.processInfo.isLowPowerModeEnabled,
            runtimes: Runtimes.versions,
            delegates: Runtimes.delegates,
            osVersion: device.systemVersion,
            deviceModel: DeviceFacts.productType(),
            appVersion: DeviceFacts.appVersion())
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

enum DeviceFacts {
    /// The product type (iPhone13,2): utsname's machine field, which the harness's catalog
    /// (device_runners/ios/devices.yaml) is keyed by. UIDevice.model only says "iPhone".
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
}

/// The result's free-form `context` as quicktype's JSONAny, which has no public initialiser:
/// through JSONSerialization (which refuses NaN and infinity, checked first) and back.
func jsonContext(_ context: [String: Any]) throws -> [String: JSONAny] {
    guard JSONSerialization.isValidJSONObject(context) else {
        throw BenchError.failed("the context holds a value JSON cannot (NaN, infinity or a non-JSON type)")
    }
    let data = try JSONSerialization.data(withJSONObject: context)
    return try JSONDecoder().decode([String: JSONAny].self, from: data)
}
