// The app shell. The harness starts it (stopping any instance still running) with one of
//   am start -S -W -n org.harnessbench.bench/.BenchActivity --es harness-request harness/requests/<trial>.json
//   am start -S -W -n org.harnessbench.bench/.BenchActivity --es harness-status harness/status/<probe>.json
// and polls for the `.done` marker under the app's external files directory
// (/sdcard/Android/data/org.harnessbench.bench/files). Everything it measures is the core's
// (org.harnessbench.core.Trial); this file only wires Android into it. Started by hand it shows
// that it is waiting.

package org.harnessbench.bench

import android.app.Activity
import android.os.Bundle
import android.os.Process
import android.os.SystemClock
import android.view.WindowManager
import android.widget.TextView
import org.harnessbench.core.Clock
import org.harnessbench.core.ContractJson
import org.harnessbench.core.HarnessFiles
import org.harnessbench.core.Trial

class BenchActivity : Activity() {
    private lateinit var line: TextView

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        line = TextView(this).apply { textSize = 16f; setPadding(48, 48, 48, 48) }
        setContentView(line)
        show("Waiting for the harness (harness run --device <phone> --runner app).")
        // getExternalFilesDir also creates the directory, owned by this app, before the harness
        // writes into it (a directory adb created first may not be the app's).
        val dir = getExternalFilesDir(null)
        if (dir == null) {
            show("External storage is not available: the harness cannot reach this app's files.")
            return
        }
        val files = HarnessFiles(dir)
        val status = intent.getStringExtra(HarnessFiles.STATUS_EXTRA)
        val request = intent.getStringExtra(HarnessFiles.REQUEST_EXTRA)
        when {
            status != null -> answerStatus(files, status)
            request != null -> runTrial(files, request)
        }
    }

    private fun show(text: String) = runOnUiThread { line.text = text }

    private fun answerStatus(files: HarnessFiles, path: String) {
        try {
            val probe = AndroidProbe(this)
            HarnessFiles.answer(files.resolve(path), probe.status(AndroidRuntimes.versions(), AndroidRuntimes.DELEGATES).toJson())
            show("Status answered ($path).")
        } catch (e: Exception) {
            show("Could not write the status: $e")
        }
    }

    /** Measures on a thread of its own, never the main one, with the screen kept on: a phone that
     *  locks mid-trial throttles or suspends the app. */
    private fun runTrial(files: HarnessFiles, path: String) {
        window.addFlags(WindowManager.LayoutParams.FLAG_KEEP_SCREEN_ON)
        show("Measuring $path…")
        val probe = AndroidProbe(this)
        val clock = Clock { SystemClock.elapsedRealtimeNanos() }
        Thread({
            Process.setThreadPriority(Process.THREAD_PRIORITY_URGENT_DISPLAY)
            val outcome = try {
                val result = Trial(files, AndroidRuntimes.table, probe, clock).runAndAnswer(path)
                ContractJson.statusName(result.status) + (result.error?.takeIf { it.isNotEmpty() }?.let { ": $it" } ?: "")
            } catch (e: Exception) {
                "could not write the result: $e"  // the harness times out on the missing marker
            }
            runOnUiThread {
                window.clearFlags(WindowManager.LayoutParams.FLAG_KEEP_SCREEN_ON)
                line.text = "$path: $outcome"
            }
        }, "HarnessBench trial").start()
    }
}
