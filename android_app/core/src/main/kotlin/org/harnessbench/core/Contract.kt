// GENERATED from device_runners/contract.schema.json by quicktype 26.0.0
// (android_app/core/generate_contract.mjs). Do not edit: change the schema, then run
//   npm install && node android_app/core/generate_contract.mjs
// tests/test_android_app.py fails while this file and the schema disagree.

package org.harnessbench.core

data class RunRequest (
    val artifactPath: String,
    val artifactSha256: String,
    val backend: String? = null,
    val checkInputsPath: String? = null,
    val cpuAffinity: List<Long>? = null,
    val format: String,
    val inputShape: List<Long>,
    val maxDurationS: Double? = null,
    val maxIterations: Long,
    val minDurationS: Double,
    val minIterations: Long,
    val model: String,
    val precision: String? = null,
    val profile: Boolean? = null,
    val runtime: String,
    val schemaVersion: Double,
    val seed: Long? = null,
    val threads: Long,
    val timeoutS: Double? = null,
    val warmupIterations: Long,
    val warmupUntilSettled: Boolean? = null
)

data class RunResult (
    val artifactSha256: String? = null,
    val backend: String? = null,
    val checkOutputs: List<CheckOutput>? = null,

    /**
     * what else the runner recorded; the keys the harness reads are declared in ResultContext
     */
    val context: Map<String, Any?>? = null,

    val cpuAffinity: List<Long>? = null,
    val device: DeviceInfo,
    val energy: EnergyInfo? = null,
    val energySamples: Map<String, Any?>? = null,
    val error: String? = null,
    val firstInferenceMs: Double? = null,
    val format: String,
    val loadMs: Double? = null,

    /**
     * the last lines its program printed (a failed trial's traceback)
     */
    val log: String? = null,

    /**
     * the program that measured: native runner, Python worker, Python bindings,
     * benchmark_model, benchmark app, XCTest, ...
     */
    val measuredBy: String? = null,

    val model: String,
    val peakRssInferenceKb: Long? = null,
    val peakRssLoadKb: Long? = null,
    val precision: String? = null,
    val runtime: String? = null,
    val runtimeVersions: Map<String, String>? = null,
    val samplesMs: List<Double>,
    val schemaVersion: SchemaVersion,
    val status: Status,
    val thermal: ThermalInfo? = null,
    val threads: Long? = null,
    val warmupSamplesMs: List<Double>? = null,

    /**
     * what the runner found doubtful (a delegate that took part of the graph), one sentence each
     */
    val warnings: List<String>? = null
)

data class CheckOutput (
    val shape: List<Long>,
    val values: List<Double?>
)

data class DeviceInfo (
    val cpu: String? = null,
    val cpuCount: Long? = null,
    val deviceId: String,
    val kind: String? = null,
    val osVersion: String? = null,
    val platform: String,
    val productModel: String? = null,
    val soc: String? = null
)

data class EnergyInfo (
    val avgPowerW: Double? = null,
    val avgPowerWUncertainty: Double? = null,
    val durationS: Double? = null,
    val idlePowerW: Double? = null,
    val joulesPerInference: Double? = null,
    val joulesPerInferenceUncertainty: Double? = null,
    val source: Source,
    val warnings: List<String>? = null
)

enum class Source {
    Battery,
    Ios,
    None,
    Odpm,
    Rapl
}

sealed class SchemaVersion {
    class DoubleValue(val value: Double) : SchemaVersion()
    class IntegerValue(val value: Long)  : SchemaVersion()
}

enum class Status {
    ExportFailed,
    Ok,
    RunFailed,
    Unsupported
}

data class ThermalInfo (
    val after: String? = null,
    val before: String? = null,
    val maxTempCAfter: Double? = null,
    val maxTempCBefore: Double? = null,
    val throttled: Boolean? = null,
    val waitedS: Double? = null
)

/** The RunRequest's `schema_version` const: what the app writes into results and expects. */
const val CONTRACT_SCHEMA_VERSION = 3
