"""Energy per inference and thermal state from the raw readings a runner took.

`energy_from_samples` turns `RunResult.energy_samples` (the layout is documented in
`device_runners.sensors`) into an `EnergyInfo`; `thermal_info` turns two thermal readings into a
`ThermalInfo`. Both are pure functions of their input, so a stored result can be re-derived.

Method
------
Each window (idle, active) is reduced to the device's draw between consecutive readings:

- counters (RAPL, ODPM): the difference of consecutive readings per channel; a negative
  difference on a channel with a known range is a wrap, and the range is added back. Exact
  between readings, so nothing is interpolated.
- power traces (kind "power", and the battery as current x voltage): trapezoids between readings.

The summed channels are added. Then, with E_a and T_a the active window's energy and duration,
P_idle = E_idle / T_idle, and N timed iterations:

    avg_power_w          = E_a / T_a                       (everything the device drew)
    idle_power_w         = P_idle
    joules_per_inference = (E_a - P_idle * T_a) / N        (the draw the model added)

Readings outside the iterations (the window's edges) add about nothing after the idle draw is
subtracted, which is why the window only needs to contain the iterations, not match them.

Uncertainty (one standard deviation)
------------------------------------
Two independent terms, added in quadrature, then divided by N:

1. Baseline. The idle draw fluctuates; what it would have been during the active window is
   known only as well as the idle window shows. With x the idle powers (per interval for
   counters, per reading for power traces), s their sample standard deviation and dt the median
   interval, the noise density is S = s^2 dt (W^2 s), the error of a mean over a time T is
   sqrt(S / T), and the idle draw subtracted over T_a is off by
       sigma_baseline = T_a * sqrt(S) * sqrt(1 / T_idle + 1 / T_a)
   (the mean measured over the idle window, and the fluctuation during the active window).
   This assumes independent intervals; readings that jitter around a steady counter make
   neighbouring intervals anti-correlated, so it errs on the large side.
2. Integration, power traces only. A trapezoid assumes the power moved linearly between two
   readings; if it instead stepped at an unknown moment inside the interval, the interval's
   energy is off by dP * dt * (u - 1/2) with u uniform on [0, 1], a standard deviation of
   dP * dt / sqrt(12). Summed over the active window:
       sigma_integration = sqrt(sum((dP_j * dt_j)^2) / 12)
   It is also the uncertainty of avg_power_w (divided by T_a); a counter's average is exact.

Battery readings
----------------
The kernel ABI says µA and µV with current positive while charging; phones print mA or mV, and
some print discharge as positive. Units are read from magnitude: a phone running a model draws
between 10 mA and 10 A, so a median |current| of at least 10,000 is µA (10 mA) and anything
below is mA (below 10 A); a median voltage of at least 100,000 is µV (0.1 V) and below is mV
(below 100 V). The sign is read from the status word: the median current of the readings marked
"Discharging" (or else "Charging") shows which sign this device uses for discharge; with no such
status the ABI's convention is assumed. While the device is charging or held full over USB, the
battery current is the charger's minus the load's, so the energy is skewed and a warning says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from statistics import median

import numpy as np

from device_runners.contract import EnergyInfo, ThermalInfo
from device_runners.sensors import LAYOUT_VERSION, ThermalReading

SOURCES = ("rapl", "odpm", "battery", "ios")
COUNTER_UNITS_J = {"uJ": 1e-6, "mJ": 1e-3, "J": 1.0}
POWER_UNITS_W = {"uW": 1e-6, "mW": 1e-3, "W": 1.0}

# Battery unit rule (see the module docstring).
MICROAMP_MIN_MEDIAN = 10_000
MICROVOLT_MIN_MEDIAN = 100_000
EXTERNAL_POWER_STATUSES = ("charging", "full", "not charging")

# A result whose energy is within this many standard deviations of zero is flagged.
RESOLVABLE_SIGMAS = 2.0

# Thermal: states that mean "not throttled" in the words of Android, iOS and others, and the
# temperature (°C, hottest zone) taken as throttling where the device gives no word. 85 °C is
# around the first passive trip point of phone SoCs and below desktop CPUs' Tjmax.
NORMAL_THERMAL_STATES = frozenset({"none", "nominal", "normal"})
DEFAULT_THROTTLE_C = 85.0


class _Unusable(ValueError):
    """The samples cannot give an energy; the message says why."""


def energy_from_samples(samples: dict) -> EnergyInfo:
    """The `EnergyInfo` for a run's `energy_samples`, with its uncertainties; source "none"
    when nothing was measured.

    Samples that cannot give an energy (too few readings, a counter reset, a malformed layout)
    give the source with no numbers and a warning saying why, never zero and never an exception.
    """
    source = (samples or {}).get("source", "none")
    if source == "none":
        note = (samples or {}).get("note")
        return EnergyInfo(warnings=(note,) if note else ())
    if source not in SOURCES:
        return EnergyInfo(warnings=(f"Unknown energy source {source!r}; energy not measured.",))
    try:
        return _estimate(samples)
    except _Unusable as exc:
        return EnergyInfo(source=source, warnings=(f"Energy not measured: {exc}",))
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        return EnergyInfo(source=source, warnings=(f"Energy samples are malformed: {exc!r}.",))


# ----------------------------------------------------------------------------------------------
# Windows reduced to the device's draw


@dataclass(frozen=True)
class _Trace:
    """One window as energy per interval, plus what the uncertainty terms need."""

    dt_s: np.ndarray  # interval lengths, one per pair of consecutive readings
    energy_j: np.ndarray  # energy drawn in each interval
    noise_w: np.ndarray  # the powers whose spread measures the draw's fluctuation
    integration_sigma_j: float

    @property
    def duration_s(self) -> float:
        return float(self.dt_s.sum())

    @property
    def energy(self) -> float:
        return float(self.energy_j.sum())

    def noise_density(self) -> float | None:
        """S = s^2 dt in W^2 s, or None with fewer than two powers to compare."""
        if len(self.noise_w) < 2:
            return None
        dt = float(np.median(self.dt_s[self.dt_s > 0]))
        return float(np.var(self.noise_w, ddof=1)) * dt


def _times(window: dict) -> np.ndarray:
    t = np.asarray(window["t_s"], dtype=float)
    if len(t) < 2:
        raise _Unusable("a window has fewer than two readings")
    if np.any(np.diff(t) < 0):
        raise _Unusable("reading times go backwards")
    return t


def _values(window: dict, channels: list[str]) -> np.ndarray:
    values = np.asarray(window["values"], dtype=float)
    if values.ndim != 2 or values.shape != (len(window["t_s"]), len(channels)):
        raise _Unusable("each reading needs one value per channel")
    return values


def _counter_trace(window: dict, samples: dict) -> _Trace:
    channels = samples["channels"]
    t, values = _times(window), _values(window, channels)
    deltas = np.diff(values, axis=0)
    ranges = samples.get("counter_ranges") or [None] * len(channels)
    summed = [channels.index(name) for name in samples["summed"]]
    for column in summed:
        backwards = deltas[:, column] < 0
        if backwards.any() and ranges[column]:
            deltas[backwards, column] += ranges[column]
        elif backwards.any():
            raise _Unusable(
                f"counter {channels[column]!r} went backwards with no known range (was it reset?)"
            )
    energy = deltas[:, summed].sum(axis=1) * COUNTER_UNITS_J[samples["unit"]]
    dt = np.diff(t)
    moving = dt > 0  # two readings in the same clock tick have no power of their own
    return _Trace(dt, energy, energy[moving] / dt[moving], 0.0)


def _power_trace(t: np.ndarray, power_w: np.ndarray) -> _Trace:
    dt = np.diff(t)
    energy = (power_w[:-1] + power_w[1:]) / 2 * dt
    integration = math.sqrt(float(np.sum((np.diff(power_w) * dt) ** 2)) / 12)
    return _Trace(dt, energy, power_w, integration)


def _summed_power_trace(window: dict, samples: dict) -> _Trace:
    channels = samples["channels"]
    t, values = _times(window), _values(window, channels)
    summed = [channels.index(name) for name in samples["summed"]]
    return _power_trace(t, values[:, summed].sum(axis=1) * POWER_UNITS_W[samples["unit"]])


@dataclass(frozen=True)
class _BatteryConvention:
    """How one device prints its battery: units and which sign means discharge."""

    amps_per_unit: float
    volts_per_unit: float
    discharge_sign: float  # +1 if discharge is printed positive, -1 if negative (the ABI)

    @classmethod
    def detect(cls, windows: list[dict], warnings: list[str]) -> "_BatteryConvention":
        currents, voltages, statuses = [], [], []
        for window in windows:
            rows = window["values"]
            currents += [row[0] for row in rows]
            voltages += [row[1] for row in rows]
            statuses += list(window.get("status") or [""] * len(rows))
        amps = 1e-6 if median(abs(c) for c in currents) >= MICROAMP_MIN_MEDIAN else 1e-3
        volts = 1e-6 if median(voltages) >= MICROVOLT_MIN_MEDIAN else 1e-3
        by_status = {}
        for current, status in zip(currents, statuses):
            by_status.setdefault(status.strip().lower(), []).append(current)
        if "discharging" in by_status:
            sign = 1.0 if median(by_status["discharging"]) > 0 else -1.0
        elif "charging" in by_status:
            sign = -1.0 if median(by_status["charging"]) > 0 else 1.0
        else:
            sign = -1.0
            warnings.append(
                "Battery status unknown; assumed the kernel's sign (negative while discharging)."
            )
        plugged = sorted(s for s in by_status if s in EXTERNAL_POWER_STATUSES)
        if plugged:
            warnings.append(
                f"The device was on external power (battery status {', '.join(plugged)}): the "
                "battery current is the charger's minus the load's, so the energy is skewed. "
                "Unplug USB (use adb over Wi-Fi) to measure energy from the battery."
            )
        return cls(amps, volts, sign)

    def trace(self, window: dict) -> _Trace:
        t, values = _times(window), _values(window, ["current", "voltage"])
        current_a = values[:, 0] * self.amps_per_unit
        voltage_v = values[:, 1] * self.volts_per_unit
        return _power_trace(t, self.discharge_sign * current_a * voltage_v)


def _check_layout(samples: dict) -> None:
    if samples.get("layout") != LAYOUT_VERSION:
        raise _Unusable(f"layout {samples.get('layout')!r} is not version {LAYOUT_VERSION}")
    kind, unit = samples["kind"], samples["unit"]
    units = {"counter": COUNTER_UNITS_J, "power": POWER_UNITS_W, "battery": {"sysfs": 1}}
    if kind not in units or unit not in units[kind]:
        raise _Unusable(f"kind {kind!r} with unit {unit!r} is not in the layout")
    if kind == "battery" and list(samples["channels"]) != ["current", "voltage"]:
        raise _Unusable("battery channels must be ['current', 'voltage']")
    if not samples["summed"] or not set(samples["summed"]) <= set(samples["channels"]):
        raise _Unusable("'summed' must name some of the channels")
    if not isinstance(samples["iterations"], int) or samples["iterations"] < 1:
        raise _Unusable("there must be at least one timed iteration")
    if not samples.get("active"):
        raise _Unusable("there is no active window")


def _estimate(samples: dict) -> EnergyInfo:
    _check_layout(samples)
    warnings: list[str] = []
    idle_window = samples.get("idle") or None
    windows = [w for w in (idle_window, samples["active"]) if w]
    if samples["kind"] == "counter":
        to_trace = partial(_counter_trace, samples=samples)
    elif samples["kind"] == "power":
        to_trace = partial(_summed_power_trace, samples=samples)
    else:
        to_trace = _BatteryConvention.detect(windows, warnings).trace
        _warn_if_gauge_is_slow(samples["active"], warnings)

    active = to_trace(samples["active"])
    t_active, n = active.duration_s, samples["iterations"]
    if t_active <= 0:
        raise _Unusable("the active window has no duration")
    avg_power = active.energy / t_active

    estimate = dict(
        source=samples["source"],
        avg_power_w=avg_power,
        avg_power_w_uncertainty=active.integration_sigma_j / t_active,
        duration_s=t_active,
    )
    idle = to_trace(idle_window) if idle_window else None
    if idle is None or idle.duration_s <= 0:
        warnings.append(
            "No idle window: energy per inference includes the idle draw and has no uncertainty."
        )
        return EnergyInfo(
            **estimate, joules_per_inference=active.energy / n, warnings=tuple(warnings)
        )

    t_idle = idle.duration_s
    idle_power = idle.energy / t_idle
    per_inference = (active.energy - idle_power * t_active) / n
    uncertainty = None
    density = idle.noise_density()
    if density is None:
        warnings.append("The idle window has too few readings to give an uncertainty.")
    else:
        baseline = t_active * math.sqrt(density * (1 / t_idle + 1 / t_active))
        uncertainty = math.hypot(baseline, active.integration_sigma_j) / n
        if abs(per_inference) < RESOLVABLE_SIGMAS * uncertainty:
            warnings.append(
                f"Energy per inference ({per_inference * 1e3:.3g} ± {uncertainty * 1e3:.2g} mJ) "
                "is not distinguishable from the idle draw; run longer or use a finer sensor."
            )
    if t_idle < t_active / 2:
        warnings.append(
            f"The idle window ({t_idle:.2g} s) is shorter than half the active window "
            f"({t_active:.2g} s), so the idle baseline is less certain."
        )
    return EnergyInfo(
        **estimate,
        joules_per_inference=per_inference,
        joules_per_inference_uncertainty=uncertainty,
        idle_power_w=idle_power,
        warnings=tuple(warnings),
    )


def _warn_if_gauge_is_slow(window: dict, warnings: list[str]) -> None:
    """Fuel gauges often refresh current_now once a second or slower; say so when it shows."""
    currents = [row[0] for row in window["values"]]
    changes = sum(1 for a, b in zip(currents, currents[1:]) if a != b)
    if len(currents) >= 4 and changes < 3:
        warnings.append(
            f"The battery current changed only {changes} times in {len(currents)} readings: the "
            "fuel gauge updates more slowly than the sampling, so the energy is coarse."
        )


# ----------------------------------------------------------------------------------------------
# Thermal


def _as_reading(reading: ThermalReading | dict) -> ThermalReading:
    return reading if isinstance(reading, ThermalReading) else ThermalReading.from_dict(reading)


def thermal_info(
    before: ThermalReading | dict,
    after: ThermalReading | dict,
    threshold_c: float = DEFAULT_THROTTLE_C,
    waited_s: float = 0.0,
) -> ThermalInfo:
    """ThermalInfo from the readings before and after a model.

    Throttled when either state is a known word other than a normal one (Android "light" and
    up, iOS "fair" and up), or the hottest zone reached `threshold_c` at either end.
    """
    before, after = _as_reading(before), _as_reading(after)
    states = {before.state.strip().lower(), after.state.strip().lower()}
    abnormal_state = bool(states - NORMAL_THERMAL_STATES - {"unknown", ""})
    temps = [t for t in (before.max_temp_c, after.max_temp_c) if t is not None]
    too_hot = any(t >= threshold_c for t in temps)
    return ThermalInfo(
        before=before.state,
        after=after.state,
        max_temp_c_before=before.max_temp_c,
        max_temp_c_after=after.max_temp_c,
        throttled=abnormal_state or too_hot,
        waited_s=waited_s,
    )
