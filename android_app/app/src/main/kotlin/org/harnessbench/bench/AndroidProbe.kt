// The device around a trial, from Android's own APIs: the device description, BatteryManager's
// current and voltage, PowerManager's thermal status and headroom, and the status answer.

package org.harnessbench.bench

import android.content.Context
import android.content.Intent
import android.content.IntentFilter
import android.os.BatteryManager
import android.os.Build
import android.os.PowerManager
import android.os.Process
import org.harnessbench.core.DeviceInfo
import org.harnessbench.core.DeviceProbe
import org.harnessbench.core.StatusAnswer

class AndroidProbe(private val context: Context) : DeviceProbe {
    private val power = context.getSystemService(PowerManager::class.java)
    private val batteryManager = context.getSystemService(BatteryManager::class.java)

    /** The runner replaces this with its own description (adb's getprop); this is what the app saw. */
    override fun device() = DeviceInfo(
        deviceId = Build.FINGERPRINT,
        platform = "android",
        kind = "android",
        productModel = Build.MODEL,
        soc = if (Build.VERSION.SDK_INT >= 31) "${Build.SOC_MANUFACTURER} ${Build.SOC_MODEL}" else Build.HARDWARE,
        osVersion = "Android ${Build.VERSION.RELEASE} (API ${Build.VERSION.SDK_INT})",
        cpuCount = Runtime.getRuntime().availableProcessors().toLong(),
        cpu = Build.SUPPORTED_ABIS.firstOrNull(),
    )

    /** BATTERY_PROPERTY_CURRENT_NOW in µA (its sign and even its unit vary by vendor: the harness
     *  reads it as the battery layer says) and the voltage in mV from the sticky battery intent. */
    override fun battery(): Map<String, Any?> {
        val current = batteryManager.getIntProperty(BatteryManager.BATTERY_PROPERTY_CURRENT_NOW)
        val sticky: Intent? = context.registerReceiver(null, IntentFilter(Intent.ACTION_BATTERY_CHANGED))
        val voltage = sticky?.getIntExtra(BatteryManager.EXTRA_VOLTAGE, -1) ?: -1
        return linkedMapOf(
            "current_ua" to current.takeIf { it != Int.MIN_VALUE && it != 0 }?.toLong(),
            "voltage_mv" to voltage.takeIf { it > 0 }?.toLong(),
            "unix" to unixSeconds(),
        )
    }

    /** ThermalReading.to_dict's keys (no zone temperatures: apps cannot read them) plus the
     *  headroom, getThermalHeadroom(0): 1.0 is throttling, NaN (null here) is not supported. */
    override fun thermal(): Map<String, Any?> {
        val headroom = if (Build.VERSION.SDK_INT >= 30) power.getThermalHeadroom(0).toDouble() else Double.NaN
        return linkedMapOf("state" to thermalStatus(), "temps_c" to emptyMap<String, Double>(),
                           "headroom" to headroom.takeIf { it.isFinite() })
    }

    fun thermalStatus(): String = when (power.currentThermalStatus) {
        PowerManager.THERMAL_STATUS_NONE -> "none"
        PowerManager.THERMAL_STATUS_LIGHT -> "light"
        PowerManager.THERMAL_STATUS_MODERATE -> "moderate"
        PowerManager.THERMAL_STATUS_SEVERE -> "severe"
        PowerManager.THERMAL_STATUS_CRITICAL -> "critical"
        PowerManager.THERMAL_STATUS_EMERGENCY -> "emergency"
        PowerManager.THERMAL_STATUS_SHUTDOWN -> "shutdown"
        else -> "unknown"
    }

    override fun context(): Map<String, Any?> = linkedMapOf(
        "clock" to "SystemClock.elapsedRealtimeNanos",
        "memory" to "VmHWM of /proc/self/status (the app's own process)",
        "pid" to Process.myPid().toLong(),
        "power_save_mode" to power.isPowerSaveMode,
        "app_version" to APP_VERSION,
    )

    fun status(runtimes: Map<String, String>, delegates: Map<String, List<String>>) = StatusAnswer(
        appVersion = APP_VERSION,
        runtimes = runtimes,
        delegates = delegates,
        androidVersion = Build.VERSION.RELEASE,
        deviceModel = Build.MODEL,
        thermalStatus = thermalStatus(),
        batteryPct = batteryManager.getIntProperty(BatteryManager.BATTERY_PROPERTY_CAPACITY)
            .takeIf { it in 0..100 }?.toDouble(),
    )

    private companion object {
        val APP_VERSION = BuildConfig.VERSION_CODE.toLong()
    }
}
