// JVM tests of the app's core, without JUnit (no jar can be fetched): kotlin.test's assertions,
// which ship with the Kotlin compiler (lib/kotlin-test.jar), and a main that runs every test,
// prints one line each and "N passed, N failed", and exits 1 on any failure.
//
//   java -cp core-tests.jar:kotlin-test.jar org.harnessbench.core.CoreTestsKt            all tests
//   java -cp ... org.harnessbench.core.CoreTestsKt --loops '<json>'   one loop run, for
//       tests/test_android_app.py to compare with device_runners/timing.py on the same fake clock

package org.harnessbench.core

import java.io.File
import java.nio.ByteBuffer
import java.nio.ByteOrder
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertNull
import kotlin.test.assertTrue

// ---------------------------------------------------------------------------------------------
// Fakes

/** A clock that moves only when told: each inference advances it by its scripted duration. */
class FakeClock(var now: Long = 1_000_000_000L) : Clock {
    override fun nanos() = now
    fun advanceMs(ms: Double) { now += Math.round(ms * 1e6) }
}

/** An inference that takes `durations[i]` ms on the fake clock (the last repeats). */
class ScriptedRun(private val clock: FakeClock, private val durations: List<Double>) : () -> Unit {
    var calls = 0
    override fun invoke() {
        clock.advanceMs(durations[minOf(calls, durations.size - 1)])
        calls++
    }
}

class FakeRuntime(private val clock: FakeClock, private val runMs: Double = 2.0,
                  private val failOnCall: Int = -1) : BenchRuntime {
    override val name = "executorch"
    override val version = "1.5.1-fake"
    override val timedCall = "Module.forward"
    var calls = 0
    var closed = false
    private var input = FloatArray(0)
    private var shape: List<Long> = emptyList()
    override fun load(artifact: File, request: RunRequest) { clock.advanceMs(30.0) }
    override val details: Map<String, Any?> get() = mapOf("backends" to listOf("XnnpackBackend"))
    override fun setInput(values: FloatArray, shape: List<Long>) { input = values; this.shape = shape }
    override fun run() {
        calls++
        if (calls == failOnCall) throw IllegalStateException("the delegate refused the graph")
        clock.advanceMs(runMs)
    }
    override fun firstOutput() = TensorOutput(shape, FloatArray(input.size) { input[it] * 2 })
    override fun close() { closed = true }
}

class FakeProbe : DeviceProbe {
    var unix = 1_700_000_000.0
    override fun device() = DeviceInfo(deviceId = "fake-phone", platform = "android", kind = "android")
    override fun unixSeconds(): Double { unix += 1.0; return unix }
    override fun battery() = mapOf("current_ua" to -250_000L, "voltage_mv" to 3_900L, "unix" to unix)
    override fun thermal() = mapOf("state" to "light", "temps_c" to emptyMap<String, Double>(), "headroom" to 0.4)
}

fun request(
    warmup: Long = 3, settle: Boolean = false, minIterations: Long = 5, minDurationS: Double = 0.0,
    maxIterations: Long = 100_000, maxDurationS: Double = 120.0,
) = RunRequest(
    artifactPath = "harness/artifacts/m.pte", artifactSha256 = "ab", format = "executorch",
    inputShape = listOf(1, 2), maxIterations = maxIterations, minDurationS = minDurationS,
    minIterations = minIterations, model = "m", runtime = "executorch", schemaVersion = 3.0, threads = 1,
    warmupIterations = warmup, warmupUntilSettled = settle, maxDurationS = maxDurationS,
)

/** A request as device_runners/contract.py's RunRequest.to_json writes it. */
fun requestJson(vararg overrides: Pair<String, Any?>): String {
    val data = linkedMapOf<String, Any?>(
        "model" to "m", "format" to "executorch", "runtime" to "executorch",
        "artifact_path" to "harness/artifacts/m.pte", "artifact_sha256" to "ab",
        "input_shape" to listOf(1L, 2L), "threads" to 1L, "cpu_affinity" to null,
        "warmup_iterations" to 3L, "warmup_until_settled" to false, "min_iterations" to 5L,
        "min_duration_s" to 0.0, "max_iterations" to 100000L, "max_duration_s" to 120.0, "seed" to 0L,
        "timeout_s" to 600.0, "backend" to "", "precision" to "fp32", "profile" to false,
        "check_inputs_path" to "", "schema_version" to 3L,
    )
    for ((key, value) in overrides) if (value == REMOVE) data.remove(key) else data[key] = value
    return Json.write(data)
}

val REMOVE = Any()

fun littleEndian(vararg values: Float): ByteArray =
    ByteBuffer.allocate(values.size * 4).order(ByteOrder.LITTLE_ENDIAN).also { b -> values.forEach { b.putFloat(it) } }.array()

fun tempFiles(): HarnessFiles {
    val dir = kotlin.io.path.createTempDirectory("harnessbench-test").toFile()
    dir.deleteOnExit()
    File(dir, "harness/artifacts").mkdirs()
    File(dir, "harness/requests").mkdirs()
    File(dir, "harness/artifacts/m.pte").writeText("pte")
    return HarnessFiles(dir)
}

fun parsed(file: File): Map<*, *> = Json.parse(file.readText()) as Map<*, *>

// ---------------------------------------------------------------------------------------------
// Tests

val TESTS: List<Pair<String, () -> Unit>> = listOf(
    "json reads and writes strict JSON" to {
        val value = Json.parse("""{"a": [1, 2.5, -3e2, true, null, "x\"\u00e9\n"], "b": {}}""") as Map<*, *>
        assertEquals(listOf(1L, 2.5, -300.0, true, null, "x\"é\n"), value["a"])
        assertEquals(value, Json.parse(Json.write(value)))
        assertEquals("""{"x": 3.0, "y": [1, null]}""", Json.write(linkedMapOf("x" to 3.0, "y" to listOf(1L, null))))
    },
    "json refuses NaN, infinity and trailing text, saying where" to {
        for (bad in listOf("""{"a": NaN}""", "[Infinity]", "[-Infinity]", "[1e999]", "{} x", "{\"a\" 1}", "[1,]")) {
            assertFailsWith<JsonException>(bad) { Json.parse(bad) }
        }
        assertTrue(assertFailsWith<JsonException> { Json.parse("[1e999]") }.message!!.contains("beyond a double's range"))
        val e = assertFailsWith<JsonException> { Json.write(mapOf("samples_ms" to listOf(1.0, Double.NaN))) }
        assertEquals("samples_ms/1 is NaN, which JSON cannot hold", e.message)
    },
    "a request as the harness writes it reads with every field" to {
        val r = ContractJson.request(requestJson("cpu_affinity" to listOf(4L, 5L), "backend" to "vulkan",
                                                 "check_inputs_path" to "harness/inputs/x.bin", "seed" to 7L))
        assertEquals(listOf(1L, 2L), r.inputShape)
        assertEquals(listOf(4L, 5L), r.cpuAffinity)
        assertEquals("vulkan", r.backend)
        assertEquals(7L, r.seed)
        assertEquals(600.0, r.timeoutS)
        assertEquals("harness/inputs/x.bin", r.checkInputsPath)
        // Only the required fields: the optional ones stay null and take the contract's defaults.
        val minimal = ContractJson.request(requestJson("cpu_affinity" to REMOVE, "seed" to REMOVE, "backend" to REMOVE,
            "max_duration_s" to REMOVE, "warmup_until_settled" to REMOVE, "timeout_s" to REMOVE, "precision" to REMOVE,
            "profile" to REMOVE, "check_inputs_path" to REMOVE))
        assertNull(minimal.maxDurationS)
        assertNull(minimal.cpuAffinity)
    },
    "a bad request is refused with one sentence naming the problem" to {
        val cases = listOf(
            "not json" to "the request is not JSON",
            "[1]" to "the request is not a JSON object",
            requestJson("schema_version" to 2L) to "the request is contract version 2, this app speaks 3",
            requestJson("runtime" to REMOVE) to "the request has no runtime",
            requestJson("runtime" to "") to "runtime must not be empty",
            requestJson("threads" to 0L) to "threads must be an integer >= 1, not 0",
            requestJson("threads" to "2") to "threads must be an integer, not a string",
            requestJson("input_shape" to emptyList<Long>()) to "input_shape must not be empty",
            requestJson("input_shape" to listOf(1L, 0L)) to "input_shape[1] must be >= 1, not 0",
            requestJson("min_duration_s" to -1.0) to "min_duration_s must be >= 0, not -1",
            requestJson("timeout_s" to 0.0) to "timeout_s must be above 0, not 0",
            requestJson("max_iterations" to 3L) to "max_iterations (3) is below min_iterations (5)",
            requestJson("min_duration_s" to 5.0, "max_duration_s" to 1.0) to "max_duration_s (1) is below min_duration_s (5)",
            requestJson("warmup_until_settled" to 1L) to "warmup_until_settled must be true or false, not an integer",
        )
        for ((text, expected) in cases) {
            val message = assertFailsWith<RequestError>(text) { ContractJson.request(text) }.message!!
            assertTrue(message.startsWith(expected), "'$message' should start with '$expected'")
        }
    },
    "mt19937_64 draws what the C++ standard fixes" to {
        val generator = MersenneTwister64(5489)
        var x = 0L
        repeat(10_000) { x = generator.next() }
        assertEquals("9981545732273789042", x.toULong().toString())
        val input = Inputs.seededUniform(listOf(2, 3, 4), 0)
        assertEquals(24, input.size)
        assertTrue(input.all { it >= -1f && it < 1f })
        assertTrue(input.toSet().size > 20)
        assertTrue(Inputs.seededUniform(listOf(5), 1).contentEquals(Inputs.seededUniform(listOf(5), 1)))
        // The native runner's input for seed 0 (std::mt19937_64 and harness_runner.cpp's formula,
        // printed by g++ 12 / libstdc++), bit for bit; the Swift core's tests pin the same values.
        val expected = listOf(0xbf2e2f90, 0x3f7bfa75, 0xbf6bbd9c, 0x3e47ab48, 0x3dad3301, 0xbf62bbf4)
        assertEquals(expected.map { it.toInt() }, Inputs.seededUniform(listOf(1, 6), 0).map { it.toRawBits() })
    },
    "check inputs are raw little-endian float32 tensors back to back" to {
        val inputs = Inputs.checkInputs(littleEndian(1f, -2f, 0.5f, 3f), listOf(1, 2))
        assertEquals(listOf(listOf(1f, -2f), listOf(0.5f, 3f)), inputs.map { it.toList() })
        val e = assertFailsWith<BenchError> { Inputs.checkInputs(littleEndian(1f, 2f, 3f), listOf(1, 2)) }
        assertEquals("the check inputs hold 12 bytes, not whole float32 inputs of shape [1, 2]", e.message)
        val out = Inputs.checkOutput(TensorOutput(listOf(1, 3), floatArrayOf(1f, Float.NaN, Float.NEGATIVE_INFINITY)))
        assertEquals(listOf(1.0, null, null), out.values)
    },
    "warm-up by count runs exactly warmup_iterations" to {
        val clock = FakeClock()
        val run = ScriptedRun(clock, listOf(4.0, 3.0, 2.0))
        val samples = ArrayList<Double>()
        val done = Loops(clock, request(warmup = 3), run).warmUp(samples)
        assertEquals(listOf(4.0, 3.0, 2.0), samples)
        assertEquals(mapOf("mode" to "count", "iterations" to 3L), done)
    },
    "warm-up until settled stops when the medians agree, never below the minimum" to {
        val clock = FakeClock()
        // Slow first, then flat: settles once two flat windows of 10 follow each other.
        val durations = List(5) { 10.0 - it } + List(100) { 2.0 }
        val samples = ArrayList<Double>()
        val done = Loops(clock, request(warmup = 0, settle = true), ScriptedRun(clock, durations)).warmUp(samples)
        assertEquals(true, done["settled"])
        assertEquals(21, samples.size)  // the window before the last must be past the slow start's median
        val longer = ArrayList<Double>()
        Loops(FakeClock(), request(warmup = 40, settle = true), ScriptedRun(FakeClock(), listOf(2.0))).warmUp(longer)
        assertEquals(40, longer.size)
    },
    "warm-up that never settles stops at 10 s or max_iterations" to {
        val clock = FakeClock()
        val growing = List(10_000) { 10.0 * Math.pow(1.05, it.toDouble()).coerceAtMost(1e4) }
        val samples = ArrayList<Double>()
        val done = Loops(clock, request(warmup = 0, settle = true), ScriptedRun(clock, growing)).warmUp(samples)
        assertEquals(false, done["settled"])
        assertTrue(samples.sum() >= 10_000.0 && samples.dropLast(1).sum() < 10_000.0, "stops at the first sample past 10 s")
        val capped = ArrayList<Double>()
        val c2 = FakeClock()
        Loops(c2, request(warmup = 0, settle = true, maxIterations = 7), ScriptedRun(c2, growing)).warmUp(capped)
        assertEquals(7, capped.size)
    },
    "timed iterations run to both minimums, every sample kept" to {
        val clock = FakeClock()
        val durations = listOf(10.0, 12.0, 9.0, 11.0)
        val samples = ArrayList<Double>()
        val outcome = Loops(clock, request(minIterations = 5, minDurationS = 0.2), ScriptedRun(clock, durations)).timed(samples)
        assertEquals("minimums_met", outcome.stopReason)
        assertEquals(listOf(10.0, 12.0, 9.0, 11.0) + List(15) { 11.0 }, samples)  // 19 samples reach 0.2 s
        assertTrue(outcome.durationS >= 0.2)
        val byCount = ArrayList<Double>()
        val c2 = FakeClock()
        Loops(c2, request(minIterations = 50, minDurationS = 0.0), ScriptedRun(c2, listOf(1.0))).timed(byCount)
        assertEquals(50, byCount.size)
    },
    "timed iterations stop at either maximum, with at least one sample" to {
        val c1 = FakeClock()
        val capped = ArrayList<Double>()
        val o1 = Loops(c1, request(minIterations = 10, minDurationS = 5.0, maxIterations = 12), ScriptedRun(c1, listOf(1.0))).timed(capped)
        assertEquals("max_iterations" to 12, o1.stopReason to capped.size)
        val c2 = FakeClock()
        val timedOut = ArrayList<Double>()
        val o2 = Loops(c2, request(minIterations = 1000, maxDurationS = 0.1), ScriptedRun(c2, listOf(10.0))).timed(timedOut)
        assertEquals("max_duration_s" to 10, o2.stopReason to timedOut.size)
        val c3 = FakeClock()
        val slow = ArrayList<Double>()
        val o3 = Loops(c3, request(minIterations = 5, maxDurationS = 0.0), ScriptedRun(c3, listOf(500.0))).timed(slow)
        assertEquals("max_duration_s" to 1, o3.stopReason to slow.size)
    },
    "a runtime's own timing of the call is the sample; the loop's durations stay on the clock" to {
        val clock = FakeClock()
        var own = 0L
        val run = { clock.advanceMs(5.0); own += 1_000_000L }  // the call takes 5 ms, its invoke 1, 2, 3 ms
        val loops = Loops(clock, request(warmup = 2, minIterations = 3, minDurationS = 0.012), run, ownNanos = { own })
        val warmup = ArrayList<Double>()
        loops.warmUp(warmup)
        val samples = ArrayList<Double>()
        val outcome = loops.timed(samples)
        assertEquals(listOf(1.0, 2.0), warmup)
        assertEquals(listOf(3.0, 4.0, 5.0), samples)  // 3 calls of 5 ms on the clock: 15 ms >= 12 ms
        assertEquals("minimums_met", outcome.stopReason)
        assertEquals(0.015, outcome.durationS, 1e-12)
    },
    "the settle rule is timing.py's" to {
        assertFalse(Settle.settled(List(19) { 1.0 }))
        assertTrue(Settle.settled(List(20) { 1.0 }))
        assertTrue(Settle.settled(List(10) { 1.0 } + List(10) { 1.019 }))
        assertFalse(Settle.settled(List(10) { 1.0 } + List(10) { 1.03 }))
        // Medians: one preempted iteration does not hold the warm-up open.
        assertTrue(Settle.settled(List(10) { 1.0 } + List(9) { 1.0 } + listOf(50.0)))
    },
    "answers are written through a temporary file, then the marker" to {
        val files = tempFiles()
        val answer = files.resolve("harness/results/t.json")
        HarnessFiles.answer(answer, "{}")
        assertEquals("{}", answer.readText())
        assertTrue(File(answer.parentFile, "t.done").isFile)
        assertEquals(setOf("t.json", "t.done"), answer.parentFile.list()!!.toSet())
        assertEquals(File(files.filesDir, "harness/results/abc.json"), files.resultFor(File("harness/requests/abc.json")))
    },
    "/proc/self/status gives the resident peak" to {
        val status = ProcMemory.parseStatus("Name:\tjava\nVmHWM:\t  51204 kB\nVmRSS:\t   49000 kB\nThreads:\t17\n")
        assertEquals(MemoryStatus(49000, 51204, 17), status)
        if (File("/proc/self/status").isFile) {
            val memory = ProcMemory()
            assertTrue((memory.status().hwmKb ?: 0) > 0)
            assertEquals("", memory.resetPeak())
        }
    },
    "a trial measures, answers and marks the result done" to {
        val files = tempFiles()
        File(files.filesDir, "harness/inputs").mkdirs()
        File(files.filesDir, "harness/inputs/x.bin").writeBytes(littleEndian(1f, 2f, 3f, 4f))
        File(files.filesDir, "harness/requests/t1.json").writeText(
            requestJson("check_inputs_path" to "harness/inputs/x.bin", "backend" to "xnnpack", "min_iterations" to 8L))
        val clock = FakeClock()
        val runtime = FakeRuntime(clock)
        val trial = Trial(files, RuntimeTable(mapOf("executorch" to { runtime }), listOf("executorch", "litert")),
                          FakeProbe(), clock)
        val result = trial.runAndAnswer("harness/requests/t1.json")
        assertEquals(Status.Ok, result.status, result.error)
        assertTrue(runtime.closed)
        assertFalse(File(files.filesDir, "harness/requests/t1.json").exists())
        assertTrue(File(files.filesDir, "harness/results/t1.done").isFile)
        val json = parsed(File(files.filesDir, "harness/results/t1.json"))
        assertEquals("ok", json["status"])
        assertEquals(30.0, json["load_ms"])
        assertEquals(2.0, json["first_inference_ms"])
        assertEquals(List(3) { 2.0 }, json["warmup_samples_ms"])
        assertEquals(List(8) { 2.0 }, json["samples_ms"])
        assertEquals(mapOf("executorch" to "1.5.1-fake"), json["runtime_versions"])
        assertEquals("xnnpack", json["backend"])
        assertEquals(listOf(mapOf("shape" to listOf(1L, 2L), "values" to listOf(2.0, 4.0)),
                            mapOf("shape" to listOf(1L, 2L), "values" to listOf(6.0, 8.0))), json["check_outputs"])
        val thermal = json["thermal"] as Map<*, *>
        assertEquals("light" to "light", thermal["before"] to thermal["after"])
        val context = json["context"] as Map<*, *>
        for (key in listOf("timed_start_unix", "timed_end_unix", "thermal_readings", "battery", "warmup",
                           "timed_stop_reason", "input", "backends")) {
            assertTrue(key in context, "context lacks $key")
        }
        assertEquals("Module.forward", context["timed_call"])
        assertTrue((context["timed_end_unix"] as Double) > (context["timed_start_unix"] as Double))
        val battery = context["battery"] as Map<*, *>
        assertEquals(-250_000L, (battery["before"] as Map<*, *>)["current_ua"])
        assertEquals(0.4, ((context["thermal_readings"] as Map<*, *>)["after"] as Map<*, *>)["headroom"])
    },
    "every bad request gets a run_failed answer, never a crash" to {
        val files = tempFiles()
        val clock = FakeClock()
        val table = RuntimeTable(mapOf("executorch" to { FakeRuntime(clock) }), listOf("executorch", "litert"))
        val trial = Trial(files, table, FakeProbe(), clock)
        val cases = mapOf(
            "bad" to ("{\"model\": \"m\", \"format\": \"f\", \"threads\": 0" to "run_failed"),
            "version" to (requestJson("schema_version" to 2L) to "run_failed"),
            "litert" to (requestJson("runtime" to "litert") to "unsupported"),
            "coreml" to (requestJson("runtime" to "coreml") to "unsupported"),
            "missing" to (requestJson("artifact_path" to "harness/artifacts/none.pte") to "run_failed"),
        )
        val errors = HashMap<String, String>()
        for ((trialName, case) in cases) {
            File(files.filesDir, "harness/requests/$trialName.json").writeText(case.first)
            trial.runAndAnswer("harness/requests/$trialName.json")
            assertTrue(File(files.filesDir, "harness/results/$trialName.done").isFile, trialName)
            val json = parsed(File(files.filesDir, "harness/results/$trialName.json"))
            assertEquals(case.second, json["status"], trialName)
            assertEquals(emptyList<Any?>(), json["samples_ms"])
            errors[trialName] = json["error"] as String
        }
        assertEquals("the benchmark app cannot read the request: the request is not JSON: expected ',' or '}' at line 1, " +
                     "character 43", errors["bad"])
        assertTrue(errors["version"]!!.contains("contract version 2, this app speaks 3"))
        assertEquals("this build of the benchmark app has no litert runtime: rebuild it with its library " +
                     "(android_app/README.md)", errors["litert"])
        assertEquals("the benchmark app runs executorch, litert, not coreml", errors["coreml"])
        assertEquals("artifact not found: harness/artifacts/none.pte", errors["missing"])
        assertEquals("m", parsed(File(files.filesDir, "harness/results/version.json"))["model"])
    },
    "a runtime that fails mid-run keeps what was measured before" to {
        val files = tempFiles()
        File(files.filesDir, "harness/requests/t.json").writeText(requestJson())
        val clock = FakeClock()
        val runtime = FakeRuntime(clock, failOnCall = 3)
        val trial = Trial(files, RuntimeTable(mapOf("executorch" to { runtime }), listOf("executorch")), FakeProbe(), clock)
        val result = trial.runAndAnswer("harness/requests/t.json")
        assertEquals(Status.RunFailed, result.status)
        assertEquals("IllegalStateException: the delegate refused the graph", result.error)
        assertEquals(30.0, result.loadMs)
        assertEquals(listOf(2.0), result.warmupSamplesMs)
        assertTrue(runtime.closed)
    },
    "the status answer has the protocol's keys" to {
        val answer = Json.parse(StatusAnswer(APP_VERSION_CODE, mapOf("litert" to "1.4.2"), mapOf("litert" to listOf("cpu", "gpu")),
                                             "15", "Pixel 8", "none", 81.0).toJson()) as Map<*, *>
        assertEquals(setOf("app_version", "runtimes", "delegates", "android_version", "device_model", "thermal_status",
                           "battery_pct"), answer.keys)
        assertEquals(1L, answer["app_version"])
    },
)

/** One loop run for the Python cross-check: {"request": {...}, "durations_ms": [...]} in, the
 *  warm-up and timed samples and how each ended out, as JSON on stdout. */
fun loopsFor(spec: String): String {
    val data = Json.parse(spec) as Map<*, *>
    val request = ContractJson.request(Json.write(data["request"]))
    val durations = (data["durations_ms"] as List<*>).map { (it as Number).toDouble() }
    val clock = FakeClock(0)
    val loops = Loops(clock, request, ScriptedRun(clock, durations))
    val warmup = ArrayList<Double>()
    val done = loops.warmUp(warmup)
    val timed = ArrayList<Double>()
    val outcome = loops.timed(timed)
    return Json.write(linkedMapOf("warmup_ms" to warmup, "settled" to done["settled"], "samples_ms" to timed,
                                  "stop_reason" to outcome.stopReason))
}

fun main(args: Array<String>) {
    if (args.size == 2 && args[0] == "--loops") {
        println(loopsFor(args[1]))
        return
    }
    var passed = 0
    var failed = 0
    for ((name, test) in TESTS) {
        try {
            test()
            passed++
            println("ok    $name")
        } catch (e: Throwable) {
            failed++
            println("FAIL  $name: ${e.message ?: e}")
            e.stackTrace.firstOrNull { it.className.startsWith("org.harnessbench") }?.let { println("      at $it") }
        }
    }
    println("$passed passed, $failed failed")
    if (failed > 0) kotlin.system.exitProcess(1)
}
