"""harness.energy on traces whose energy is known exactly, and thermal_info."""

from __future__ import annotations

import numpy as np
import pytest

from device_runners.contract import EnergyInfo, ThermalInfo
from device_runners.sensors import LAYOUT_VERSION, ThermalReading, no_energy_samples
from harness.energy import energy_from_samples, thermal_info


def samples(kind, unit, channels, active, idle=None, iterations=100, summed=None, ranges=None,
            source=None):
    """An energy_samples dict in the layout device_runners.sensors documents."""
    return {
        "layout": LAYOUT_VERSION,
        "source": source or {"counter": "rapl", "power": "ios", "battery": "battery"}[kind],
        "kind": kind,
        "unit": unit,
        "channels": channels,
        "summed": summed or channels,
        "counter_ranges": ranges,
        "interval_s": 0.1,
        "iterations": iterations,
        "idle": idle,
        "active": active,
    }


def window(t, values, status=()):
    t = np.asarray(t, dtype=float)
    rows = np.asarray(values, dtype=float).reshape(len(t), -1)
    return {"t_s": t.tolist(), "values": rows.tolist(), "status": list(status)}


def counter_window(t, watts, start_uj=0.0, wrap=None):
    """Readings of a µJ counter for a device drawing watts[k] between t[k] and t[k + 1]."""
    t = np.asarray(t, dtype=float)
    energy = start_uj + np.concatenate([[0.0], np.cumsum(np.diff(t) * watts * 1e6)])
    return window(t, energy % wrap if wrap else energy)


def steady(seconds, step=0.1, start=0.0):
    return start + np.arange(round(seconds / step) + 1) * step


# ----------------------------------------------------------------------------------------------
# Exactly known energies


def test_constant_power_trace():
    t = steady(1.0)
    info = energy_from_samples(samples("power", "W", ["soc"], window(t, np.full(len(t), 2.0)),
                                       idle=window(t, np.zeros(len(t))), iterations=10))
    assert info.source == "ios"
    assert info.joules_per_inference == pytest.approx(0.2)
    assert info.avg_power_w == pytest.approx(2.0)
    assert info.idle_power_w == 0.0
    assert info.duration_s == pytest.approx(1.0)
    assert info.joules_per_inference_uncertainty == 0.0
    assert info.warnings == ()


def test_ramp_power_trace_integrates_exactly_with_uneven_readings():
    t = np.array([0.0, 0.05, 0.3, 0.31, 0.9, 1.4, 2.0])
    ramp_mw = 2000.0 * t  # 0 to 4 W over 2 s: 4 J
    flat = np.full(len(t), 500.0)
    estimate = energy_from_samples(samples("power", "mW", ["cpu"], window(t, ramp_mw),
                                       idle=window(t, flat), iterations=4))
    assert estimate.avg_power_w == pytest.approx(2.0)
    assert estimate.idle_power_w == pytest.approx(0.5)
    assert estimate.joules_per_inference == pytest.approx((4.0 - 0.5 * 2.0) / 4)
    # The step model's integration term: large for readings 0.6 s apart on a moving trace, and
    # smaller when the same ramp is read every 0.1 s.
    fine = steady(2.0)
    finer = energy_from_samples(samples("power", "mW", ["cpu"], window(fine, 2000.0 * fine),
                                    idle=window(fine, np.full(len(fine), 500.0)), iterations=4))
    assert 0 < finer.avg_power_w_uncertainty < estimate.avg_power_w_uncertainty / 3


def test_idle_power_is_subtracted_from_a_counter():
    idle = counter_window(steady(2.0), 0.5)
    active = counter_window(steady(2.0, start=2.0), 2.5, start_uj=1e6)
    info = energy_from_samples(samples("counter", "uJ", ["package-0"], active, idle, 100))
    assert info.idle_power_w == pytest.approx(0.5)
    assert info.avg_power_w == pytest.approx(2.5)
    assert info.joules_per_inference == pytest.approx((2.5 - 0.5) * 2.0 / 100)
    assert info.joules_per_inference_uncertainty == pytest.approx(0.0, abs=1e-12)


def test_idle_readings_at_the_window_edges_do_not_change_the_energy():
    t = steady(3.0)
    watts = np.where((t[:-1] >= 1.0) & (t[:-1] < 2.0), 4.0, 1.0)  # work only in the middle
    padded = counter_window(t, watts)
    tight = counter_window(t[10:21], watts[10:20])
    idle = counter_window(steady(2.0), 1.0)
    per_padded = energy_from_samples(samples("counter", "uJ", ["p"], padded, idle, 50))
    per_tight = energy_from_samples(samples("counter", "uJ", ["p"], tight, idle, 50))
    assert per_padded.joules_per_inference == pytest.approx(3.0 / 50)
    assert per_tight.joules_per_inference == pytest.approx(3.0 / 50)


def test_only_summed_channels_count():
    t = steady(1.0)
    active = window(t, np.column_stack([np.full(len(t), 3.0), np.full(len(t), 1.0)]))
    info = energy_from_samples(samples("power", "W", ["package-0", "package-0/core"], active,
                                       iterations=1, summed=["package-0"]))
    assert info.avg_power_w == pytest.approx(3.0)


def test_counter_wraparound_uses_the_range():
    wrap = 1_000_000  # µJ: the 3 J below wrap three times
    active = counter_window(steady(1.0), 3.0, start_uj=900_000, wrap=wrap)
    assert min(np.diff(np.array(active["values"])[:, 0])) < 0  # the trace really wraps
    info = energy_from_samples(samples("counter", "uJ", ["package-0"], active, iterations=3,
                                       ranges=[wrap]))
    assert info.avg_power_w == pytest.approx(3.0)
    assert info.joules_per_inference == pytest.approx(1.0)


def test_counter_going_backwards_without_a_range_is_a_warning_not_a_number():
    active = window([0.0, 0.1, 0.2], [500.0, 900.0, 100.0])
    info = energy_from_samples(samples("counter", "uJ", ["S4M_VDD_CPUCL0"], active,
                                       source="odpm"))
    assert info.source == "odpm" and info.joules_per_inference is None
    assert "went backwards" in info.warnings[0]


def test_odpm_counter_in_device_milliseconds():
    # ODPM readings carry the device's ms clock; two reads in one tick must not divide by zero.
    t = np.array([100.000, 100.250, 100.250, 100.500, 100.750, 101.000])
    active = counter_window(t, np.full(5, 1.2))
    idle = counter_window(t - 1.0, np.full(5, 0.2))
    info = energy_from_samples(samples("counter", "uJ", ["S2S_VDD_G3D"], active, idle, 10,
                                       source="odpm"))
    assert info.joules_per_inference == pytest.approx(1.0 * 1.0 / 10)


# ----------------------------------------------------------------------------------------------
# Battery: units and sign


def battery(current, voltage, status, seconds=2.0, start=0.0):
    t = steady(seconds, start=start)
    current = current * (1 + 0.002 * (np.arange(len(t)) % 3 - 1))  # a live gauge keeps moving
    return window(t, np.column_stack([current, np.full(len(t), voltage)]), [status] * len(t))


def battery_energy(unit_a, unit_v, sign, status="Discharging"):
    """500 mA at 4 V active (2 W) and 250 mA idle (1 W), printed in the given convention."""
    active = battery(sign * 0.5 / unit_a, 4.0 / unit_v, status, start=2.0)
    idle = battery(sign * 0.25 / unit_a, 4.0 / unit_v, status)
    return energy_from_samples(samples("battery", "sysfs", ["current", "voltage"], active, idle,
                                       iterations=100))


@pytest.mark.parametrize("unit_a, unit_v", [(1e-6, 1e-6), (1e-3, 1e-3), (1e-3, 1e-6)])
def test_battery_units_are_detected_by_magnitude(unit_a, unit_v):
    info = battery_energy(unit_a, unit_v, sign=-1)
    assert info.idle_power_w == pytest.approx(1.0, rel=0.02)
    assert info.avg_power_w == pytest.approx(2.0, rel=0.02)
    assert info.joules_per_inference == pytest.approx(1.0 * 2.0 / 100, rel=0.05)


def test_battery_sign_follows_the_discharging_status():
    abi = battery_energy(1e-6, 1e-6, sign=-1)  # the kernel ABI: negative while discharging
    vendor = battery_energy(1e-6, 1e-6, sign=+1)  # many phones: positive while discharging
    assert abi.avg_power_w == pytest.approx(2.0, rel=0.02)
    assert vendor.avg_power_w == pytest.approx(abi.avg_power_w, rel=1e-3)
    assert not any("external power" in w for w in abi.warnings + vendor.warnings)


def test_charging_over_usb_is_warned():
    info = battery_energy(1e-6, 1e-6, sign=+1, status="Charging")  # ABI: positive = charging
    assert any("external power" in w and "Charging".lower() in w for w in info.warnings)
    assert info.avg_power_w < 0  # the battery took power in rather than giving it out


def test_a_slow_fuel_gauge_is_warned():
    t = steady(2.0)
    frozen = window(t, np.column_stack([np.full(len(t), -500000.0), np.full(len(t), 4e6)]),
                    ["Discharging"] * len(t))
    info = energy_from_samples(samples("battery", "sysfs", ["current", "voltage"], frozen))
    assert any("changed only 0 times" in w for w in info.warnings)


# ----------------------------------------------------------------------------------------------
# Missing and unusable samples


def test_missing_source_is_none_never_zero():
    for empty in ({}, None, no_energy_samples("No RAPL, ODPM or battery on this host.")):
        info = energy_from_samples(empty)
        assert info == EnergyInfo(source="none", warnings=info.warnings)
        assert info.joules_per_inference is None and info.avg_power_w is None
    assert energy_from_samples(no_energy_samples("why")).warnings == ("why",)


def test_unusable_samples_keep_the_source_and_say_why():
    backwards = window([0.0, 0.2, 0.1], [0.0, 1.0, 2.0])
    cases = {
        "go backwards": samples("counter", "uJ", ["p"], backwards),
        "fewer than two": samples("counter", "uJ", ["p"], window([0.0], [1.0])),
        "unit": samples("counter", "W", ["p"], counter_window(steady(1), 1.0)),
        "timed iteration": samples("counter", "uJ", ["p"], counter_window(steady(1), 1.0),
                                   iterations=0),
        "layout": {**samples("counter", "uJ", ["p"], counter_window(steady(1), 1.0)), "layout": 9},
        "malformed": {k: v for k, v in samples("counter", "uJ", ["p"], None).items()
                      if k != "channels"},
    }
    for expected, case in cases.items():
        info = energy_from_samples(case)
        assert info.source == "rapl" and info.joules_per_inference is None, expected
        assert expected in info.warnings[0], (expected, info.warnings)
    assert energy_from_samples({"source": "watt-meter"}).source == "none"


def test_no_idle_window_gives_the_gross_energy_without_an_uncertainty():
    info = energy_from_samples(samples("counter", "uJ", ["p"], counter_window(steady(1), 2.0),
                                       iterations=4))
    assert info.joules_per_inference == pytest.approx(0.5)
    assert info.joules_per_inference_uncertainty is None and info.idle_power_w is None
    assert "No idle window" in info.warnings[0]


def test_short_idle_and_unresolvable_energy_are_warned():
    rng = np.random.default_rng(0)
    idle = counter_window(steady(0.5), 1.0 + rng.normal(0, 0.3, 5))
    active = counter_window(steady(2.0, start=1.0), 1.01 + rng.normal(0, 0.3, 20))
    info = energy_from_samples(samples("counter", "uJ", ["p"], active, idle))
    assert any("shorter than half" in w for w in info.warnings)
    assert any("not distinguishable" in w for w in info.warnings)


# ----------------------------------------------------------------------------------------------
# The uncertainty means what it says


def coverage(kind, trials=300, seed=1):
    """How often the true energy per inference lies within 2 sigma of the estimate."""
    rng = np.random.default_rng(seed)
    # The idle draw is far enough above the noise that a counter never runs backwards.
    idle_w, net_w, noise_w, seconds, n = 3.0, 0.8, 0.4, 2.0, 40
    t_idle, t_active = steady(seconds, 0.05), steady(seconds, 0.05, start=seconds)
    hits = 0
    for _ in range(trials):
        if kind == "counter":  # independent noise in every interval's energy
            idle = counter_window(t_idle, idle_w + rng.normal(0, noise_w, len(t_idle) - 1))
            active = counter_window(t_active,
                                    idle_w + net_w + rng.normal(0, noise_w, len(t_active) - 1))
            case = samples("counter", "uJ", ["p"], active, idle, n)
        else:  # independent noise in every power reading
            idle = window(t_idle, idle_w + rng.normal(0, noise_w, len(t_idle)))
            active = window(t_active, idle_w + net_w + rng.normal(0, noise_w, len(t_active)))
            case = samples("power", "W", ["p"], active, idle, n)
        info = energy_from_samples(case)
        truth = net_w * seconds / n
        hits += abs(info.joules_per_inference - truth) <= 2 * info.joules_per_inference_uncertainty
    return hits / trials


@pytest.mark.parametrize("kind", ["counter", "power"])
def test_two_sigma_covers_the_truth_about_95_percent_of_the_time(kind):
    assert 0.90 <= coverage(kind) <= 0.995


# ----------------------------------------------------------------------------------------------
# Thermal


def test_thermal_normal_and_cool_is_not_throttled():
    before = ThermalReading("none", {"AP": 38.0, "BAT": 30.0})
    after = ThermalReading("none", {"AP": 61.5, "BAT": 33.0})
    assert thermal_info(before, after, waited_s=12.0) == ThermalInfo(
        before="none", after="none", max_temp_c_before=38.0, max_temp_c_after=61.5,
        throttled=False, waited_s=12.0,
    )


@pytest.mark.parametrize("before, after", [
    (ThermalReading("none", {"AP": 40.0}), ThermalReading("moderate", {"AP": 60.0})),  # Android
    (ThermalReading("nominal"), ThermalReading("fair")),  # iOS words, no temperatures
    (ThermalReading("unknown", {"cpu": 70.0}), ThermalReading("unknown", {"cpu": 86.0})),
])
def test_thermal_throttled_by_state_or_threshold(before, after):
    assert thermal_info(before, after).throttled


def test_thermal_threshold_and_unknown_state():
    hot = {"state": "unknown", "temps_c": {"cpu": 80.0}}  # dicts, as stored in a result
    assert not thermal_info(hot, hot).throttled
    assert thermal_info(hot, hot, threshold_c=75.0).throttled
    nothing = thermal_info(ThermalReading(), ThermalReading())
    assert nothing.max_temp_c_after is None and not nothing.throttled
