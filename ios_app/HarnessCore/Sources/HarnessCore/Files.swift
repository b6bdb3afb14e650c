// The file protocol with the harness (device_runners/ios/protocol.py, device_runners/app_files.py)
// under a root the app is given: its Documents on the phone, which the harness reaches through
// devicectl or pymobiledevice3 (UIFileSharingEnabled), a temporary directory in the tests.
//
//   harness/artifacts/..., harness/inputs/...   pushed by the harness; requests name them
//   harness/requests/<trial>.json               a RunRequest, paths relative to the root
//   harness/results/<trial>.json, .done         the RunResult, then the marker
//   harness/status/<probe>.json, .done          the status answer, then the marker

import Foundation

struct HarnessFiles {
    static let requestArgument = "--harness-request"  // protocol.REQUEST_ARG
    static let statusArgument = "--harness-status"    // protocol.STATUS_ARG
    static let resultsDirectory = "harness/results"

    /// Where the harness's relative paths start (the app's Documents).
    let root: URL

    /// A path the harness gave, relative to the root; an absolute path is taken as it is (the
    /// XCTest target passes the bundle's own files).
    func resolve(_ path: String) -> URL {
        path.hasPrefix("/") ? URL(fileURLWithPath: path) : root.appendingPathComponent(path)
    }

    /// harness/results/<trial>.json for harness/requests/<trial>.json.
    func resultURL(forRequest request: URL) -> URL {
        let trial = request.deletingPathExtension().lastPathComponent
        return resolve(Self.resultsDirectory).appendingPathComponent("\(trial).json")
    }

    /// The value after `flag` in the launch arguments (devicectl passes them after the bundle id).
    static func argument(_ flag: String, in arguments: [String]) -> String? {
        guard let index = arguments.firstIndex(of: flag), index + 1 < arguments.count else { return nil }
        return arguments[index + 1]
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
