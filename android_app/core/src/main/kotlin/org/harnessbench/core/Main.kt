// The core on the JVM, without a phone: the same protocol as the app, with a stub runtime that
// sleeps a fixed time per inference, for stand-ins and tests of the harness side.
//
//   java -jar core.jar --files-dir DIR --request harness/requests/<trial>.json [--stub-ms 5]
//   java -jar core.jar --files-dir DIR --status harness/status/<probe>.json
//
// Exit 0 when the answer and its `.done` marker were written (a failed trial is an answer too),
// 2 on a usage error, 1 when the answer could not be written.

package org.harnessbench.core

import java.io.File

/** A runtime that sleeps `ms` per inference and returns its input as its output. */
class SleepRuntime(override val name: String, private val ms: Double) : BenchRuntime {
    override val version = "stub"
    override val timedCall = "stub sleep"
    private var input = FloatArray(0)
    private var shape: List<Long> = emptyList()

    override fun load(artifact: File, request: RunRequest) {
        artifact.inputStream().use { it.read() }
    }

    override val details: Map<String, Any?>
        get() = mapOf("runtime_stub" to "sleeps ${ms} ms per inference (the core's JVM entry, not a runtime)")

    override fun setInput(values: FloatArray, shape: List<Long>) {
        input = values
        this.shape = shape
    }

    override fun run() {
        val nanos = (ms * 1e6).toLong()
        Thread.sleep(nanos / 1_000_000, (nanos % 1_000_000).toInt())
    }

    override fun firstOutput() = TensorOutput(shape, input.copyOf())
}

class JvmProbe : DeviceProbe {
    override fun device() = DeviceInfo(
        deviceId = try { java.net.InetAddress.getLocalHost().hostName } catch (e: Exception) { "jvm" },
        platform = System.getProperty("os.name").lowercase(), kind = "host",
        osVersion = "${System.getProperty("os.name")} ${System.getProperty("os.version")}",
        cpuCount = Runtime.getRuntime().availableProcessors().toLong(),
        cpu = System.getProperty("os.arch"),
    )

    override fun context() = mapOf("clock" to "System.nanoTime", "memory" to "VmHWM of /proc/self/status",
                                   "pid" to ProcessHandle.current().pid())
}

val KNOWN_RUNTIMES = listOf("executorch", "litert")

fun main(args: Array<String>) {
    val options = HashMap<String, String>()
    var i = 0
    while (i < args.size) {
        val key = args[i]
        if (!key.startsWith("--") || i + 1 >= args.size) usage("unexpected argument '$key'")
        options[key.removePrefix("--")] = args[i + 1]
        i += 2
    }
    val unknown = options.keys - setOf("files-dir", "request", "status", "stub-ms")
    if (unknown.isNotEmpty()) usage("unknown option --${unknown.first()}")
    val filesDir = options["files-dir"] ?: usage("--files-dir is required")
    val stubMs = options["stub-ms"]?.let { it.toDoubleOrNull() ?: usage("--stub-ms must be a number") } ?: 5.0
    val files = HarnessFiles(File(filesDir))
    val probe = JvmProbe()
    val runtimes = RuntimeTable(KNOWN_RUNTIMES.associateWith { name -> { SleepRuntime(name, stubMs) } }, KNOWN_RUNTIMES)
    try {
        when {
            options["request"] != null -> {
                val result = Trial(files, runtimes, probe, Clock { System.nanoTime() }).runAndAnswer(options["request"]!!)
                println("${ContractJson.statusName(result.status)}${if (result.error.isNullOrEmpty()) "" else ": ${result.error}"}")
            }
            options["status"] != null -> {
                val answer = StatusAnswer(
                    appVersion = APP_VERSION_CODE, runtimes = KNOWN_RUNTIMES.associateWith { "stub" },
                    delegates = mapOf("executorch" to listOf("xnnpack"), "litert" to listOf("cpu")),
                    androidVersion = "", deviceModel = probe.device().deviceId, thermalStatus = "none",
                    batteryPct = null)
                HarnessFiles.answer(files.resolve(options["status"]!!), answer.toJson())
                println("status answered")
            }
            else -> usage("give --request or --status")
        }
    } catch (e: java.io.IOException) {
        System.err.println("could not write the answer: ${e.message}")
        kotlin.system.exitProcess(1)
    }
}

private fun usage(why: String): Nothing {
    System.err.println("$why\nusage: java -jar core.jar --files-dir DIR (--request PATH [--stub-ms MS] | --status PATH)")
    kotlin.system.exitProcess(2)
}
