// The app shell. The harness launches it (devicectl or pymobiledevice3, terminating any instance
// still running) with one of
//   --harness-request harness/requests/<trial>.json   measure, write the result, then <trial>.done
//   --harness-status harness/status/<probe>.json      answer the status, then <probe>.done
// and polls for the marker; the app then stays idle until the next launch. Launched by hand it
// only shows that it is waiting. Everything it measures is HarnessCore's Trial; this file only
// wires iOS into it (Documents, UIKit, a thread of its own).

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
    private let files = HarnessFiles(root: FileManager.default.urls(for: .documentDirectory,
                                                                    in: .userDomainMask)[0])

    func start(arguments: [String]) {
        guard !started else { return }  // onAppear runs again when the view reappears
        started = true
        if let path = HarnessFiles.argument(HarnessFiles.statusArgument, in: arguments) {
            answerStatus(at: path)
        } else if let path = HarnessFiles.argument(HarnessFiles.requestArgument, in: arguments) {
            runTrial(requestPath: path)
        }
    }

    private func answerStatus(at path: String) {
        do {
            try HarnessFiles.answer(try JSONEncoder().encode(DeviceFacts.status()), at: files.resolve(path))
            status = "Status answered (\(path))."
        } catch {
            status = "Could not write the status: \(error)"
        }
    }

    /// Measures on a thread of its own, never the main one: the loop must not share its thread
    /// with UI work, and Core ML's synchronous compile and prediction calls block. The screen
    /// stays on (no auto-lock) while it runs, since a locked phone suspends the app.
    private func runTrial(requestPath: String) {
        let device = DeviceFacts.deviceInfo()  // UIDevice is main-thread API
        let trial = Trial(files: files, runtimes: Runtimes.table, probe: DarwinProbe(),
                          appVersion: DeviceFacts.appVersion())
        UIApplication.shared.isIdleTimerDisabled = true
        status = "Measuring \(requestPath)…"
        let thread = Thread {
            let outcome: String
            do {
                let result = try trial.runAndAnswer(requestPath: requestPath, device: device)
                outcome = result.status == .ok ? "done" : "\(result.status.rawValue): \(result.error ?? "")"
            } catch {
                outcome = "could not write the result: \(error)"  // the harness times out on the marker
            }
            Task { @MainActor in self.finish(requestPath: requestPath, outcome: outcome) }
        }
        thread.name = "HarnessBench trial"
        thread.qualityOfService = .userInteractive
        thread.start()
    }

    private func finish(requestPath: String, outcome: String) {
        UIApplication.shared.isIdleTimerDisabled = false
        status = "\(requestPath): \(outcome)"
    }
}
