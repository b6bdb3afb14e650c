// Peak memory of the app's own process, as the native runner reads its own: VmHWM (the resident
// high-water mark) of /proc/self/status, reset before each phase by writing 5 to
// /proc/self/clear_refs (Linux 4.0+). Plain Linux files, so this is the same on a phone and on
// the JVM tests' machine.

package org.harnessbench.core

import java.io.File

/** The kB figures of /proc/self/status the protocol reads; null where the kernel gave none. */
data class MemoryStatus(val rssKb: Long?, val hwmKb: Long?, val threads: Long?)

class ProcMemory(private val proc: File = File("/proc/self")) {
    fun status(): MemoryStatus = try {
        parseStatus(File(proc, "status").readText())
    } catch (e: java.io.IOException) {
        MemoryStatus(null, null, null)
    }

    /** Resets the peak to the current resident size; returns "" or why it could not. */
    fun resetPeak(): String {
        try {
            File(proc, "clear_refs").writeText("5")
        } catch (e: java.io.IOException) {
            return "writing ${proc.path}/clear_refs failed: ${e.message}"
        } catch (e: SecurityException) {
            return "writing ${proc.path}/clear_refs is not allowed: ${e.message}"
        }
        val after = status()
        if (after.rssKb == null || after.hwmKb == null) return "VmRSS/VmHWM missing from ${proc.path}/status"
        // After a reset the peak equals the current RSS; allow a few pages for the read itself.
        if (after.hwmKb > after.rssKb + 256) return "VmHWM did not drop after writing ${proc.path}/clear_refs"
        return ""
    }

    companion object {
        fun parseStatus(text: String): MemoryStatus {
            val fields = text.lineSequence().mapNotNull { line ->
                val colon = line.indexOf(':')
                if (colon < 0) null else line.substring(0, colon) to line.substring(colon + 1).trim()
            }.toMap()
            fun number(key: String) = fields[key]?.split(' ', '\t')?.firstOrNull()?.toLongOrNull()
            return MemoryStatus(number("VmRSS"), number("VmHWM"), number("Threads"))
        }
    }
}
