// One trial: a RunRequest in, a RunResult out, in the order of the native runner's `measure`
// (device_runners/native/harness_runner.cpp) and the iOS app's Trial.swift: cold load, first
// inference, warm-up, timed iterations, then the check inputs. A failure keeps what was measured
// before it; nothing here throws to the caller.

package org.harnessbench.core

import java.io.File

/** What the harness records as the program that measured (RunResult.measured_by). */
const val MEASURED_BY = "benchmark app"

/** Why a trial ended early: `unsupported` becomes the status "unsupported", the rest "run_failed";
 *  the message is the result's `error`, one line the user can act on. */
class BenchError(message: String, val unsupported: Boolean = false) : Exception(message)

/** A runtime the app measures with. The timed call is `run()`: the input is copied in before it
 *  and the output read after it, so the clock times the runtime and nothing of ours. */
interface BenchRuntime : AutoCloseable {
    /** The contract's `runtime` name ("executorch", "litert"). */
    val name: String
    /** The runtime's version, as the status answer and `runtime_versions` give it. */
    val version: String
    /** The library call a sample times (context `timed_call`): "Module.forward",
     *  "Interpreter.invoke", the same words on every runner for the same span of work. */
    val timedCall: String
    /** Nanoseconds the runtime itself measured of the last `run()`, where the call it makes does
     *  more than the span `timedCall` names (LiteRT's Interpreter.run copies the input in and the
     *  output out around its native invoke); null to take the clock around `run()`. */
    val lastRunNanos: Long? get() = null
    /** Read the artifact and get ready to run: the timed load, so nothing else happens in it. */
    fun load(artifact: File, request: RunRequest)
    /** What the load did (backends, delegates, threads applied), read after its clock stops. */
    val details: Map<String, Any?>
    /** Copy one float32 input of `shape` into the runtime's input (outside every clock). */
    fun setInput(values: FloatArray, shape: List<Long>)
    /** One inference on the input last set. */
    fun run()
    /** The first output of the last `run()`, flattened in row-major order. */
    fun firstOutput(): TensorOutput
    override fun close() {}
}

/** Runtime name to implementation, for the runtimes this build has. */
class RuntimeTable(private val factories: Map<String, () -> BenchRuntime>, private val known: List<String>) {
    val names: Set<String> get() = factories.keys

    fun make(name: String): BenchRuntime {
        factories[name]?.let { return it() }
        if (name in known) {
            throw BenchError("this build of the benchmark app has no $name runtime: rebuild it with its " +
                "library (android_app/README.md)", unsupported = true)
        }
        throw BenchError("the benchmark app runs ${known.joinToString(", ")}, not $name", unsupported = true)
    }
}

/** The device around the trial: its description, and readings outside the process's own.
 *  Android reads BatteryManager and PowerManager; the JVM entry and the tests stand in. */
interface DeviceProbe {
    fun device(): DeviceInfo
    /** The wall clock in seconds since the epoch (timed_start_unix, timed_end_unix). */
    fun unixSeconds(): Double = System.currentTimeMillis() / 1000.0
    /** One battery reading: {"current_ua", "voltage_mv", "unix"}; empty when there is none. */
    fun battery(): Map<String, Any?> = emptyMap()
    /** One thermal reading: {"state", "temps_c", "headroom"} (ThermalReading.to_dict plus headroom). */
    fun thermal(): Map<String, Any?> = mapOf("state" to "unknown", "temps_c" to emptyMap<String, Double>())
    /** Facts for the result's context (process, clock, memory method). */
    fun context(): Map<String, Any?> = emptyMap()
}

/** Everything a trial measured, ok or not (the native runner's `Measurement`). */
private class Measurement {
    var status = Status.Ok
    var error = ""
    var loadMs: Double? = null
    var firstInferenceMs: Double? = null
    val warmupSamplesMs = ArrayList<Double>()
    val samplesMs = ArrayList<Double>()
    var peakLoadKb: Long? = null
    var peakInferenceKb: Long? = null
    val checkOutputs = ArrayList<CheckOutput>()
    var thermalBefore = "unknown"
    var thermalAfter = "unknown"
    val context = LinkedHashMap<String, Any?>()
    val versions = LinkedHashMap<String, String>()
}

class Trial(
    private val files: HarnessFiles,
    private val runtimes: RuntimeTable,
    private val probe: DeviceProbe,
    private val clock: Clock,
    private val memory: ProcMemory = ProcMemory(),
) {
    /** Reads the request at `requestPath` (relative to FILES), measures it, writes the result
     *  and then its `.done` marker; returns the result. Never throws for a bad request or a
     *  failing runtime: those are results with status run_failed or unsupported. */
    fun runAndAnswer(requestPath: String): RunResult {
        val requestFile = files.resolve(requestPath)
        val result = run(requestFile)
        val text = try {
            ContractJson.resultText(result)
        } catch (e: JsonException) {
            ContractJson.resultText(result.copy(status = Status.RunFailed, context = emptyMap(),
                checkOutputs = emptyList(), error = "the app's result cannot be written as JSON: ${e.message}"))
        }
        HarnessFiles.answer(files.resultFor(requestFile), text)
        requestFile.delete()  // answered; the harness keeps its own copy
        return result
    }

    fun run(requestFile: File): RunResult {
        val text = try {
            requestFile.readText()
        } catch (e: java.io.IOException) {
            return unreadable("", "cannot read ${requestFile.path} (${e.message})")
        }
        val request = try {
            ContractJson.request(text)
        } catch (e: RequestError) {
            return unreadable(text, e.message ?: "")
        }
        val m = Measurement()
        m.context["runner"] = "HarnessBench Android"
        m.context.putAll(probe.context())
        try {
            measure(request, m)
        } catch (e: BenchError) {
            m.status = if (e.unsupported) Status.Unsupported else Status.RunFailed
            m.error = e.message ?: e.toString()
        } catch (e: Exception) {
            m.status = Status.RunFailed
            m.error = e.message?.let { "${e::class.simpleName}: $it" } ?: e.toString()  // the runtime's own
        } catch (e: OutOfMemoryError) {
            m.status = Status.RunFailed
            m.error = "out of memory: ${e.message}"
        }
        return result(request, m)
    }

    private fun measure(request: RunRequest, m: Measurement) {
        val runtime = runtimes.make(request.runtime)
        runtime.use {
            m.versions[request.runtime] = runtime.version
            val artifact = files.resolve(request.artifactPath)
            if (!artifact.isFile) throw BenchError("artifact not found: ${request.artifactPath}")
            if (request.cpuAffinity != null) {
                m.context["cpu_affinity_note"] = "an Android app has no API to pin threads to cores; not applied"
            }
            if (request.profile == true) {
                m.context["profiling"] = "not available in the app: profile with the native runner (ETDump) " +
                    "or benchmark_model"
            }
            // The input is built before the memory baseline so it counts in neither phase's peak.
            val seed = request.seed ?: 0L
            val input = Inputs.seededUniform(request.inputShape, seed)
            m.context["input"] = linkedMapOf("shape" to request.inputShape, "dtype" to "float32", "seed" to seed,
                                             "distribution" to "uniform[-1,1) from mt19937_64")

            val reset = memory.resetPeak()
            m.context["peak_rss_reset"] = reset.ifEmpty { "ok" }
            memory.status().rssKb?.let { m.context["rss_before_load_kb"] = it }
            val loadStart = clock.nanos()
            runtime.load(artifact, request)
            m.loadMs = msBetween(loadStart, clock.nanos())
            m.context.putAll(runtime.details)
            m.peakLoadKb = memory.status().hwmKb
            runtime.setInput(input, request.inputShape)

            memory.resetPeak().takeIf { it.isNotEmpty() }?.let { m.context["peak_rss_reset"] = "failed: $it" }
            val loops = Loops(clock, request, runOnce = runtime::run, ownNanos = { runtime.lastRunNanos })
            m.context["timed_call"] = runtime.timedCall
            m.firstInferenceMs = loops.once()
            m.context["warmup"] = loops.warmUp(m.warmupSamplesMs)
            memory.status().threads?.let { m.context["process_threads"] = it }

            // Readings outside the process and the wall clock around the timed loop: the harness
            // cuts its battery readings to these times.
            val thermalBefore = probe.thermal()
            val batteryBefore = probe.battery()
            m.context["timed_start_unix"] = probe.unixSeconds()
            val outcome = loops.timed(m.samplesMs)
            m.context["timed_end_unix"] = probe.unixSeconds()
            val batteryAfter = probe.battery()
            val thermalAfter = probe.thermal()
            m.thermalBefore = thermalBefore["state"] as? String ?: "unknown"
            m.thermalAfter = thermalAfter["state"] as? String ?: "unknown"
            m.context["thermal_readings"] = linkedMapOf("before" to thermalBefore, "after" to thermalAfter)
            if (batteryBefore.isNotEmpty() || batteryAfter.isNotEmpty()) {
                m.context["battery"] = linkedMapOf("before" to batteryBefore, "after" to batteryAfter)
            }
            m.context["timed_stop_reason"] = outcome.stopReason
            m.context["timed_duration_s"] = outcome.durationS
            m.peakInferenceKb = memory.status().hwmKb

            // After the timed loop, so neither the first inference nor the samples are disturbed.
            val checkPath = request.checkInputsPath
            if (!checkPath.isNullOrEmpty()) {
                try {
                    for (values in Inputs.checkInputs(files.resolve(checkPath), request.inputShape)) {
                        runtime.setInput(values, request.inputShape)
                        runtime.run()
                        m.checkOutputs.add(Inputs.checkOutput(runtime.firstOutput()))
                    }
                } catch (e: Exception) {
                    m.checkOutputs.clear()
                    m.context["check_error"] = e.message ?: e.toString()
                }
            }
        }
    }

    private fun result(request: RunRequest, m: Measurement) = RunResult(
        schemaVersion = SchemaVersion.IntegerValue(CONTRACT_SCHEMA_VERSION.toLong()),
        model = request.model, format = request.format, runtime = request.runtime,
        status = m.status, device = probe.device(), backend = request.backend ?: "",
        precision = request.precision ?: "fp32", artifactSha256 = request.artifactSha256,
        runtimeVersions = m.versions, threads = request.threads, cpuAffinity = request.cpuAffinity,
        loadMs = m.loadMs, firstInferenceMs = m.firstInferenceMs,
        warmupSamplesMs = m.warmupSamplesMs, samplesMs = m.samplesMs,
        peakRssLoadKb = m.peakLoadKb, peakRssInferenceKb = m.peakInferenceKb,
        energy = EnergyInfo(source = Source.None),  // the harness turns the battery readings into energy
        energySamples = emptyMap(),
        thermal = ThermalInfo(before = m.thermalBefore, after = m.thermalAfter),
        context = m.context, error = m.error, checkOutputs = m.checkOutputs,
        measuredBy = MEASURED_BY,
    )

    /** A request the app cannot read still gets an answer, naming what it could read of it, so
     *  the harness reports the reason instead of waiting for a marker that never comes. */
    private fun unreadable(text: String, why: String): RunResult {
        val identity = ContractJson.requestIdentity(text)
        return RunResult(
            schemaVersion = SchemaVersion.IntegerValue(CONTRACT_SCHEMA_VERSION.toLong()),
            model = identity["model"] ?: "", format = identity["format"] ?: "", runtime = identity["runtime"],
            status = Status.RunFailed, device = probe.device(), samplesMs = emptyList(),
            error = "the benchmark app cannot read the request: $why", measuredBy = MEASURED_BY,
        )
    }
}
