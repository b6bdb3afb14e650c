// The file protocol with the harness, under an injected root: the launch arguments, where a
// result goes, and answers written whole before their `.done` marker.

import Foundation
import XCTest
@testable import HarnessCore

final class FilesTests: XCTestCase {
    func testTheLaunchArgumentsNameTheRequestOrTheStatus() {
        let arguments = ["HarnessBench", "--harness-request", "harness/requests/t1.json"]
        XCTAssertEqual(HarnessFiles.argument(HarnessFiles.requestArgument, in: arguments), "harness/requests/t1.json")
        XCTAssertNil(HarnessFiles.argument(HarnessFiles.statusArgument, in: arguments))
        XCTAssertNil(HarnessFiles.argument(HarnessFiles.requestArgument, in: ["HarnessBench", "--harness-request"]))
    }

    func testPathsAreRelativeToTheRootAndResultsMirrorRequests() {
        let files = HarnessFiles(root: URL(fileURLWithPath: "/documents"))
        XCTAssertEqual(files.resolve("harness/artifacts/a.pte").path, "/documents/harness/artifacts/a.pte")
        XCTAssertEqual(files.resolve("/bundle/m.mlmodelc").path, "/bundle/m.mlmodelc")
        let result = files.resultURL(forRequest: files.resolve("harness/requests/abc.json"))
        XCTAssertEqual(result.path, "/documents/harness/results/abc.json")
        XCTAssertEqual(HarnessFiles.doneURL(for: result).path, "/documents/harness/results/abc.done")
    }

    func testAnAnswerIsWrittenWholeThenItsMarker() throws {
        let files = try temporaryRoot(self)
        let answer = files.resolve("harness/status/p1.json")
        try HarnessFiles.answer(Data("{}".utf8), at: answer)
        XCTAssertEqual(try String(contentsOf: answer, encoding: .utf8), "{}")
        let directory = answer.deletingLastPathComponent().path
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory).sorted(), ["p1.done", "p1.json"])
    }

    func testTheStatusAnswerHasTheProtocolsKeys() throws {
        let answer = StatusAnswer(thermalState: "nominal", batteryLevel: 0.8, batteryState: "unplugged",
                                  lowPowerMode: false, runtimes: ["coreml": "iOS 17.5"],
                                  delegates: ["litert": ["coreml"]], osVersion: "17.5",
                                  deviceModel: "iPhone13,2", appVersion: "1.0 (1)")
        let keys = try JSONValue.parse(JSONEncoder().encode(answer)).object?.keys.sorted()
        XCTAssertEqual(keys, ["app_version", "battery_level", "battery_state", "delegates", "device_model",
                              "low_power_mode", "os_version", "runtimes", "thermal_state"])
    }
}
