// The status answer (app_protocol.py's docstring): what the runner reads before the first trial
// and for its thermal gate. The Android shell fills it; the keys are the protocol's.

package org.harnessbench.core

/** The versionCode of this build: app/build.gradle.kts and app_protocol.APP_VERSION_CODE say the same. */
const val APP_VERSION_CODE = 1L

data class StatusAnswer(
    val appVersion: Long,                    // versionCode: the runner upgrades the app below its own
    val runtimes: Map<String, String>,       // {runtime: version}
    val delegates: Map<String, List<String>>,  // {runtime: [backend]} this build can run
    val androidVersion: String,
    val deviceModel: String,
    val thermalStatus: String,               // PowerManager's status: none, light, ... shutdown
    val batteryPct: Double?,
) {
    fun toJson(): String = Json.write(linkedMapOf(
        "app_version" to appVersion,
        "runtimes" to runtimes,
        "delegates" to delegates,
        "android_version" to androidVersion,
        "device_model" to deviceModel,
        "thermal_status" to thermalStatus,
        "battery_pct" to batteryPct,
    ))
}
