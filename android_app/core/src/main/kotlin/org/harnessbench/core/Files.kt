// The file protocol with the harness (device_runners/android/app_protocol.py), under the app's
// files directory FILES (/sdcard/Android/data/<package>/files on a phone, --files-dir on the JVM):
//
//   harness/artifacts/..., harness/inputs/...   pushed by the harness; requests name them
//   harness/requests/<trial>.json               a RunRequest, paths relative to FILES
//   harness/results/<trial>.json, .done         the RunResult, then the marker
//   harness/status/<probe>.json, .done          the status answer, then the marker

package org.harnessbench.core

import java.io.File
import java.io.FileOutputStream

class HarnessFiles(val filesDir: File) {
    /** A path the harness gave, relative to FILES (an absolute one is taken as it is). */
    fun resolve(path: String): File = File(path).let { if (it.isAbsolute) it else File(filesDir, path) }

    /** harness/results/<trial>.json for harness/requests/<trial>.json. */
    fun resultFor(request: File): File = File(resolve(RESULTS_DIR), request.name.removeSuffix(".json") + ".json")

    companion object {
        const val ROOT = "harness"
        const val RESULTS_DIR = "harness/results"
        const val REQUEST_EXTRA = "harness-request"  // app_protocol.REQUEST_EXTRA
        const val STATUS_EXTRA = "harness-status"    // app_protocol.STATUS_EXTRA

        /** The marker beside a JSON answer: <name>.done, written after the answer itself. */
        fun doneFor(answer: File): File = File(answer.parentFile, answer.name.removeSuffix(".json") + ".done")

        /** Writes `text` through a temporary name and a rename, then the `.done` marker, so the
         *  harness, which polls for the marker, never pulls half an answer. */
        fun answer(file: File, text: String) {
            val dir = file.absoluteFile.parentFile
            if (!dir.isDirectory && !dir.mkdirs()) throw java.io.IOException("cannot create $dir")
            val temporary = File(dir, ".${file.name}.tmp")
            FileOutputStream(temporary).use { out ->
                out.write(text.toByteArray(Charsets.UTF_8))
                out.fd.sync()
            }
            if (!temporary.renameTo(file)) {
                temporary.delete()
                throw java.io.IOException("cannot rename $temporary to $file")
            }
            val done = doneFor(file)
            FileOutputStream(done).use { it.write("ok".toByteArray()); it.fd.sync() }
        }
    }
}
