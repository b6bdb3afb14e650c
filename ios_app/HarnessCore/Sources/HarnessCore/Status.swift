// The status answer (device_runners/ios/protocol.py's docstring): what the runner's `open` and its
// thermal gate read before a trial. The app fills it from UIDevice and ProcessInfo
// (HarnessBench/DeviceFacts.swift); the keys are the protocol's.

import Foundation

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
}
