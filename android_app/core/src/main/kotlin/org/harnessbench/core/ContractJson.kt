// The generated contract types (Contract.kt) to and from JSON, by the schema's names.
//
// A request is checked as device_runners/contract.schema.json and RunRequest.__post_init__ check
// it, and a bad one is refused with one sentence naming the first thing wrong ("threads must be
// an integer >= 1, not 0"); Trial turns it into a run_failed result, never a crash. Every schema
// property is spelled here once, as a string literal: tests/test_android_app.py fails when the
// schema has a property this file never names.

package org.harnessbench.core

/** A request the app cannot run as it is; `message` is the sentence the result's error carries. */
class RequestError(message: String) : Exception(message)

object ContractJson {
    /** The request in `text`; raises RequestError with one sentence on the first problem. */
    fun request(text: String): RunRequest {
        val data = try {
            Json.parse(text)
        } catch (e: JsonException) {
            throw RequestError("the request is not JSON: ${e.message}")
        }
        if (data !is Map<*, *>) throw RequestError("the request is not a JSON object")
        val r = Fields(data)
        val version = r.number("schema_version", required = true)!!
        if (version != CONTRACT_SCHEMA_VERSION.toDouble()) {
            throw RequestError("the request is contract version ${formatNumber(version)}, this app speaks " +
                "$CONTRACT_SCHEMA_VERSION: rebuild it from this checkout (android_app/README.md)")
        }
        val request = RunRequest(
            schemaVersion = version,
            model = r.text("model", required = true, nonEmpty = true)!!,
            format = r.text("format", required = true, nonEmpty = true)!!,
            runtime = r.text("runtime", required = true, nonEmpty = true)!!,
            artifactPath = r.text("artifact_path", required = true, nonEmpty = true)!!,
            artifactSha256 = r.text("artifact_sha256", required = true)!!,
            inputShape = r.integers("input_shape", required = true, minimum = 1, nonEmpty = true)!!,
            threads = r.integer("threads", required = true, minimum = 1)!!,
            cpuAffinity = r.integers("cpu_affinity", required = false, minimum = 0, nullable = true),
            warmupIterations = r.integer("warmup_iterations", required = true, minimum = 0)!!,
            warmupUntilSettled = r.bool("warmup_until_settled"),
            minIterations = r.integer("min_iterations", required = true, minimum = 1)!!,
            minDurationS = r.number("min_duration_s", required = true, minimum = 0.0)!!,
            maxIterations = r.integer("max_iterations", required = true, minimum = 1)!!,
            maxDurationS = r.number("max_duration_s", required = false, minimum = 0.0),
            seed = r.integer("seed", required = false),
            timeoutS = r.number("timeout_s", required = false, exclusiveMinimum = 0.0),
            backend = r.text("backend", required = false),
            precision = r.text("precision", required = false),
            profile = r.bool("profile"),
            checkInputsPath = r.text("check_inputs_path", required = false),
        )
        // What RunRequest.__post_init__ adds to the schema.
        if (request.maxIterations < request.minIterations) {
            throw RequestError("max_iterations (${request.maxIterations}) is below min_iterations " +
                "(${request.minIterations})")
        }
        val maxDuration = request.maxDurationS ?: DEFAULT_MAX_DURATION_S
        if (maxDuration < request.minDurationS) {
            throw RequestError("max_duration_s (${formatNumber(maxDuration)}) is below min_duration_s " +
                "(${formatNumber(request.minDurationS)})")
        }
        return request
    }

    /** What could be read of a request that `request` refused: model, format and runtime. */
    fun requestIdentity(text: String): Map<String, String> {
        val data = try { Json.parse(text) } catch (e: JsonException) { null }
        if (data !is Map<*, *>) return emptyMap()
        return listOf("model", "format", "runtime")
            .mapNotNull { key -> (data[key] as? String)?.let { key to it } }.toMap()
    }

    fun result(result: RunResult): Map<String, Any?> {
        val out = LinkedHashMap<String, Any?>()
        out["schema_version"] = when (val v = result.schemaVersion) {
            is SchemaVersion.IntegerValue -> v.value
            is SchemaVersion.DoubleValue -> v.value
        }
        out["model"] = result.model
        out["format"] = result.format
        result.runtime?.let { out["runtime"] = it }
        out["status"] = statusName(result.status)
        out["device"] = device(result.device)
        result.backend?.let { out["backend"] = it }
        result.precision?.let { out["precision"] = it }
        result.artifactSha256?.let { out["artifact_sha256"] = it }
        result.runtimeVersions?.let { out["runtime_versions"] = it }
        result.threads?.let { out["threads"] = it }
        out["cpu_affinity"] = result.cpuAffinity
        out["load_ms"] = result.loadMs
        out["first_inference_ms"] = result.firstInferenceMs
        out["warmup_samples_ms"] = result.warmupSamplesMs ?: emptyList<Double>()
        out["samples_ms"] = result.samplesMs
        out["peak_rss_load_kb"] = result.peakRssLoadKb
        out["peak_rss_inference_kb"] = result.peakRssInferenceKb
        result.energy?.let { out["energy"] = energy(it) }
        result.energySamples?.let { out["energy_samples"] = it }
        result.thermal?.let { out["thermal"] = thermal(it) }
        result.context?.let { out["context"] = it }
        result.error?.let { out["error"] = it }
        result.measuredBy?.let { out["measured_by"] = it }
        result.log?.let { out["log"] = it }
        result.warnings?.let { out["warnings"] = it }
        result.checkOutputs?.let { outputs ->
            out["check_outputs"] = outputs.map { mapOf("shape" to it.shape, "values" to it.values) }
        }
        return out
    }

    /** The result as strict JSON; raises JsonException naming a value JSON cannot hold. */
    fun resultText(result: RunResult): String = Json.write(result(result))

    fun statusName(status: Status): String = when (status) {
        Status.Ok -> "ok"
        Status.Unsupported -> "unsupported"
        Status.ExportFailed -> "export_failed"
        Status.RunFailed -> "run_failed"
    }

    private fun device(d: DeviceInfo): Map<String, Any?> = LinkedHashMap<String, Any?>().apply {
        put("device_id", d.deviceId)
        put("platform", d.platform)
        d.productModel?.let { put("product_model", it) }
        d.soc?.let { put("soc", it) }
        d.cpu?.let { put("cpu", it) }
        d.osVersion?.let { put("os_version", it) }
        d.cpuCount?.let { put("cpu_count", it) }
        d.kind?.let { put("kind", it) }
    }

    private fun energy(e: EnergyInfo): Map<String, Any?> = LinkedHashMap<String, Any?>().apply {
        put("source", e.source.name.lowercase())  // None, Rapl, Odpm, Battery, Ios: one word each
        put("joules_per_inference", e.joulesPerInference)
        put("joules_per_inference_uncertainty", e.joulesPerInferenceUncertainty)
        put("avg_power_w", e.avgPowerW)
        put("avg_power_w_uncertainty", e.avgPowerWUncertainty)
        put("idle_power_w", e.idlePowerW)
        put("duration_s", e.durationS)
        put("warnings", e.warnings ?: emptyList<String>())
    }

    private fun thermal(t: ThermalInfo): Map<String, Any?> = LinkedHashMap<String, Any?>().apply {
        put("before", t.before ?: "unknown")
        put("after", t.after ?: "unknown")
        t.maxTempCBefore?.let { put("max_temp_c_before", it) }
        t.maxTempCAfter?.let { put("max_temp_c_after", it) }
        t.throttled?.let { put("throttled", it) }
        t.waitedS?.let { put("waited_s", it) }
    }

    /** A number as a person reads it: 3, not 3.0. */
    fun formatNumber(x: Double): String =
        if (x == Math.rint(x) && kotlin.math.abs(x) < 1e15) x.toLong().toString() else x.toString()

    /** The request's fields, each checked as the schema says, the first problem thrown. */
    private class Fields(private val data: Map<*, *>) {
        private fun present(key: String, required: Boolean): Boolean {
            if (key in data) return true
            if (required) throw RequestError("the request has no $key")
            return false
        }

        private fun kind(value: Any?): String = when (value) {
            null -> "null"
            is String -> "a string"
            is Boolean -> "a boolean"
            is Long -> "an integer"
            is Double -> "a number"
            is Map<*, *> -> "an object"
            is List<*> -> "an array"
            else -> "a ${value::class.simpleName}"
        }

        fun text(key: String, required: Boolean, nonEmpty: Boolean = false): String? {
            if (!present(key, required)) return null
            val value = data[key] as? String ?: throw RequestError("$key must be a string, not ${kind(data[key])}")
            if (nonEmpty && value.isEmpty()) throw RequestError("$key must not be empty")
            return value
        }

        fun bool(key: String): Boolean? {
            if (!present(key, required = false)) return null
            return data[key] as? Boolean ?: throw RequestError("$key must be true or false, not ${kind(data[key])}")
        }

        /** JSON integers; 2.0 counts as the integer 2, as jsonschema counts it. */
        private fun asInteger(value: Any?): Long? = when (value) {
            is Long -> value
            is Double -> if (value == Math.rint(value) && kotlin.math.abs(value) < 9.0e15) value.toLong() else null
            else -> null
        }

        fun integer(key: String, required: Boolean, minimum: Long? = null): Long? {
            if (!present(key, required)) return null
            val value = asInteger(data[key])
                ?: throw RequestError("$key must be an integer, not ${kind(data[key])}")
            if (minimum != null && value < minimum) throw RequestError("$key must be an integer >= $minimum, not $value")
            return value
        }

        fun number(key: String, required: Boolean, minimum: Double? = null, exclusiveMinimum: Double? = null): Double? {
            if (!present(key, required)) return null
            val value = (data[key] as? Number)?.toDouble()
                ?: throw RequestError("$key must be a number, not ${kind(data[key])}")
            if (minimum != null && value < minimum) {
                throw RequestError("$key must be >= ${formatNumber(minimum)}, not ${formatNumber(value)}")
            }
            if (exclusiveMinimum != null && value <= exclusiveMinimum) {
                throw RequestError("$key must be above ${formatNumber(exclusiveMinimum)}, not ${formatNumber(value)}")
            }
            return value
        }

        fun integers(key: String, required: Boolean, minimum: Long, nonEmpty: Boolean = false,
                     nullable: Boolean = false): List<Long>? {
            if (!present(key, required)) return null
            val value = data[key]
            if (value == null && nullable) return null
            val list = value as? List<*> ?: throw RequestError("$key must be an array of integers, not ${kind(value)}")
            if (nonEmpty && list.isEmpty()) throw RequestError("$key must not be empty")
            return list.mapIndexed { i, item ->
                val n = asInteger(item)
                    ?: throw RequestError("$key[$i] must be an integer, not ${kind(item)}")
                if (n < minimum) throw RequestError("$key[$i] must be >= $minimum, not $n")
                n
            }
        }
    }
}

/** The contract's defaults for optional request fields (device_runners/contract.py). */
const val DEFAULT_MAX_DURATION_S = 120.0
