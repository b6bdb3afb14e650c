// The app shell. The harness launches it (devicectl or pymobiledevice3, terminating any instance
// still running) with one of
//   --harness-request harness/requests/<trial>.json   measure, write the result, then <trial>.done
//   --harness-status harness/status/<probe>.json      answer the status, then <probe>.done
// and polls for the marker; the app then stays idle until the next launch. Launched by hand it
// only shows that it is waiting.

import SwiftUI
import UIKit

@main
struct HarnessBenchApp: App {
    @StateObject private var job = Job()

    var body: some Scene {
        WindowGroup {
            VStack(spacing: 16) {
                Text("HarnessBench").font(.title2.bold())
                Text(job.status)
                    .font(.system(.body, design: .monospaced))
                    .multilineTextAlignment(.center)
            }
            .padding()
            .onAppear { job.start(arguments: ProcessInfo.processInfo.arguments) }
        }
    }
}

/// What the app was launched to do, and the line on screen saying how far it got.
@MainActor
final class Job: ObservableObject {
    @Published private(set) var status = "Waiting for the harness (harness run --device <iPhone>)."
    private var started = false

    func start(arguments: [String]) {
        guard !started else { return }  // onAppear runs again when the view reappears
        started = true
        if let path = HarnessFiles.argument(HarnessFiles.statusArgument, in: arguments) {
            answerStatus(at: HarnessFiles.inDocuments(path))
        } else if let path = HarnessFiles.argument(HarnessFiles.requestArgument, in: arguments) {
            runTrial(requestURL: HarnessFiles.inDocuments(path))
        }
    }

    private func answerStatus(at url: URL) {
        do {
            try HarnessFiles.answer(try JSONEncoder().encode(StatusAnswer.current()), at: url)
            status = "Status answered (\(url.lastPathComponent))."
        } catch {
            status = "Could not write the status: \(error)"
        }
    }

    /// Measures on a thread of its own, never the main one: the loop must not share its thread
    /// with UI work, and Core ML's synchronous compile and prediction calls block. The screen
    /// stays on (no auto-lock) while it runs, since a locked phone suspends the app.
    private func runTrial(requestURL: URL) {
        let trial = requestURL.deletingPathExtension().lastPathComponent
        let device = DeviceFacts.deviceInfo()  // UIDevice is main-thread API
        UIApplication.shared.isIdleTimerDisabled = true
        status = "Measuring trial \(trial)…"
        let thread = Thread {
            let result = Trial.run(requestURL: requestURL, device: device)
            let outcome = Self.write(result, for: requestURL)
            Task { @MainActor in self.finish(trial: trial, outcome: outcome) }
        }
        thread.name = "HarnessBench trial"
        thread.qualityOfService = .userInteractive
        thread.start()
    }

    /// The result, then its `.done` marker; the request is removed once answered. A result that
    /// cannot be encoded (a value JSON cannot hold) becomes a run_failed result saying why.
    nonisolated private static func write(_ result: RunResult, for requestURL: URL) -> String {
        let url = HarnessFiles.resultURL(forRequest: requestURL)
        do {
            let data: Data
            do {
                data = try JSONEncoder().encode(result)
            } catch {
                var failed = result
                failed.status = .runFailed
                failed.error = "the app's result cannot be written as JSON: \(error)"
                failed.context = [:]
                failed.checkOutputs = []
                data = try JSONEncoder().encode(failed)
            }
            try HarnessFiles.answer(data, at: url)
            try? FileManager.default.removeItem(at: requestURL)
            return result.status == .ok ? "done" : "\(result.status.rawValue): \(result.error ?? "")"
        } catch {
            return "could not write the result: \(error)"
        }
    }

    private func finish(trial: String, outcome: String) {
        UIApplication.shared.isIdleTimerDisabled = false
        status = "Trial \(trial): \(outcome)"
    }
}
