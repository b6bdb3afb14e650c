"""The phone physics behind the simulated phones (tests/support/phone_physics), and the pieces of
the harness that read a phone as it behaves, each on its own: clusters and --cores, health
snapshots, sustained windows, plausibility, durations. End to end on a simulated phone:
tests/test_phones_behave.py."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from device_runners.android.cores import CoresUnavailable, Placement, cores_for, topology
from device_runners.android.health import health_warnings, parse_cpufreq, parse_load, parse_snapshot
from device_runners.compute_peak import host_peak, phone_peak
from device_runners.contract import DeviceInfo, RunResult
from device_runners.phones import CoreCluster
from device_runners.sensors.thermal import ThermalReading
from harness.bench.plausibility import plausibility
from harness.bench.settings import MeasurementSettings, parse_duration
from harness.bench.stats import summarize_trials
from harness.bench.sustained import sustained_context
from harness.bench.validity import validity
from harness.errors import UsageError
from harness.store import BenchmarkRecord
from tests.support.phone_physics import PhoneModel, profile, sustained_truth

PIXEL7 = profile("pixel7")


def _model(tmp_path, entries, **kw) -> PhoneModel:
    log = tmp_path / "inputs.jsonl"
    log.write_text("".join(json.dumps(e) + "\n" for e in entries))
    return PhoneModel(PIXEL7, boot=0.0, inputs=log, **kw)


# -- the model -------------------------------------------------------------------------------


def test_a_busy_prime_core_heats_the_phone_until_it_throttles_and_cools_after(tmp_path):
    model = _model(tmp_path, [{"t": 1.0, "work": "w", "cpus": [7]}, {"t": 31.0, "done": "w"}],
                   time_scale=20.0)
    model.advance(60.0)
    assert model.skin_temp_c(0.5) < 26.5  # idle: barely above the room
    assert model.freq_khz(0.5, 7) == 500_000 and model.freq_khz(2.0, 7) >= 2_704_000
    assert model.throttle_step(30.0) >= 1 and model.thermal_status(30.0) >= 1
    assert model.freq_khz(30.0, 7) < 2_850_000 * 0.9  # capped
    assert model.skin_temp_c(60.0) < model.skin_temp_c(31.0) - 5  # cooling once idle
    assert model.throttle_step(60.0) == 0


def test_a_prime_core_is_faster_than_a_little_one_by_its_capacity(tmp_path):
    model = _model(tmp_path, [{"t": 0.0, "work": "w", "cpus": [0, 7]}], time_scale=1.0)
    model.advance(2.0)
    prime, little = model.speed(1.0, [7]), model.speed(1.0, [0])
    assert prime / little == pytest.approx(1024 / 234, rel=0.1)
    assert model.speed(1.0, [0, 7]) == little  # a parallel kernel waits for its slowest core


def test_the_same_inputs_give_the_same_phone_and_a_late_entry_rolls_the_past_back(tmp_path):
    entries = [{"t": 2.0, "work": "a", "cpus": [6]}, {"t": 9.0, "done": "a"},
               {"t": 12.0, "charging": True}]
    replayed = _model(tmp_path, entries, seed=3, time_scale=10.0)
    replayed.advance(20.0)
    live_log = tmp_path / "live.jsonl"
    live_log.write_text("")
    live = PhoneModel(PIXEL7, seed=3, boot=0.0, inputs=live_log, time_scale=10.0)
    live.advance(5.0)  # the work began at 2 s, but is logged only now
    live_log.write_text("".join(json.dumps(e) + "\n" for e in entries))
    live.advance(20.0)
    assert live.skin == replayed.skin and live.freqs == replayed.freqs
    assert live.energy_j(20.0, "prime") == pytest.approx(replayed.energy_j(20.0, "prime"))
    assert live.charging(13.0) and not live.charging(11.0)
    assert live.battery_current_ua(13.0) > 0 > live.battery_current_ua(11.0)


def test_a_pinned_clock_holds_under_load_and_sessions_differ_by_the_profile_s_spread(tmp_path):
    model = _model(tmp_path, [{"t": 0.0, "pin": 7, "governor": "performance", "min_khz": 2_048_000,
                               "max_khz": 2_048_000}, {"t": 0.0, "work": "w", "cpus": [7]}])
    model.advance(3.0)
    assert {model.freq_khz(t, 7) for t in (0.5, 1.5, 2.5)} == {2_048_000}
    offsets = [math.log(model.session_factor(i)) for i in range(400)]
    assert np.std(offsets) == pytest.approx(PIXEL7.session_sd, rel=0.15)


def test_the_model_s_own_sustained_figures():
    truth = sustained_truth(PIXEL7, [6, 7], 120, time_scale=1.0)
    assert 20 < truth.first_throttle_s < 90 and 0.5 < truth.steady_ratio < 0.95
    assert sustained_truth(PIXEL7, [0], 120).first_throttle_s is None  # a little core stays cool


# -- clusters and --cores ----------------------------------------------------------------------

FREQS = {0: 1_803_000, 1: 1_803_000, 2: 1_803_000, 3: 1_803_000, 4: 2_348_000, 5: 2_348_000,
         6: 2_850_000, 7: 2_850_000}
CAPACITY = {0: 234, 1: 234, 2: 234, 3: 234, 4: 620, 5: 620, 6: 1024, 7: 1024}
TENSOR_G2 = (CoreCluster(4, "Cortex-A55", 1803), CoreCluster(2, "Cortex-A78", 2348),
             CoreCluster(2, "Cortex-X1", 2850))


def test_clusters_come_from_the_phone_or_the_catalog_and_take_their_roles():
    clusters = topology(FREQS, CAPACITY, TENSOR_G2)
    assert [(c.role, c.cpus, c.core) for c in clusters] == [
        ("little", (0, 1, 2, 3), "Cortex-A55"), ("big", (4, 5), "Cortex-A78"), ("prime", (6, 7), "Cortex-X1")]
    assert cores_for("prime", clusters, "P") == (6, 7) and cores_for("all", clusters, "P") == tuple(range(8))
    hidden = topology({}, {}, TENSOR_G2)  # a phone that hides cpufreq: the catalog's layout
    assert [c.cpus for c in hidden] == [(0, 1, 2, 3), (4, 5), (6, 7)]
    two = topology({0: 1_800_000, 1: 2_400_000}, {})
    assert [c.role for c in two] == ["little", "big"]
    with pytest.raises(CoresUnavailable) as exc:
        cores_for("prime", two, "SIM (Pixel 4a)")
    assert str(exc.value).startswith("--cores prime: SIM (Pixel 4a) has no prime cores (")
    assert str(exc.value).endswith("use --cores big.") and "\n" not in str(exc.value)


def test_a_trial_s_placement_names_its_clusters_and_its_cores_peak():
    placement = Placement.choose("prime", topology(FREQS, CAPACITY, TENSOR_G2), "P", "Google Tensor G2")
    context = placement.context((6, 7), threads=1)
    assert context["cores"]["asked"] == "prime" and context["cores"]["clusters"] == ["prime"]
    peak = context["compute_peak"]
    assert peak["fp32_macs_per_s"] == pytest.approx(16 * 2.85e9)  # one X1 thread
    assert "Cortex-X1 (16 fp32 MACs a cycle) at 2.85 GHz" in peak["source"] and peak["memory_gb_s"] == 51.2


def test_host_peak_reads_the_simd_extensions_and_the_clock():
    flags = "flags\t\t: fpu sse sse2 avx avx2 fma\ncpu MHz\t\t: 2000.000\n"
    peak = host_peak(2, flags, max_khz=3_000_000)
    assert peak["fp32_macs_per_s"] == pytest.approx(2 * 16 * 3.0e9)
    assert "AVX2+FMA, 16 fp32 MACs a cycle" in peak["source"]
    assert "AVX-512" in host_peak(1, "flags : avx2 fma avx512f\n", max_khz=1)["source"]
    assert phone_peak(topology(FREQS, CAPACITY), (6,)) is None  # core type unknown: no peak


# -- health ------------------------------------------------------------------------------------


def test_a_snapshot_says_charging_throttled_busy_and_the_screen():
    cpufreq = ("cpu6 schedutil 2401000 2401000 2850000\ncpu7 schedutil 500000 2850000 2850000\n")
    parts = {"battery": "  AC powered: false\n  USB powered: true\n  level: 81\n  status: 2\n",
             "screen": "  mWakefulness=Asleep\n", "cpufreq": cpufreq,
             "load": "Load: 2.10 / 2.00 / 1.90\n35% TOTAL: 30% user + 5% kernel\n"}
    snapshot = parse_snapshot(parts, ThermalReading("light", {"VIRTUAL-SKIN": 40.2}))
    assert snapshot["charging"] and snapshot["battery_pct"] == 81 and snapshot["screen"] == "off"
    assert snapshot["others_pct"] == 35.0 and snapshot["load_1min"] == 2.1
    assert parse_cpufreq(cpufreq)[6]["scaling_max_khz"] == 2_401_000
    warnings = health_warnings(snapshot, snapshot, (6,))
    assert [w.split(":")[0].split(" (")[0] for w in warnings] == [
        "measured while charging", "measured while the phone throttled",
        "other processes took 35% of the CPU around the trial", "the screen was off"]
    assert "thermal status light" in warnings[1]
    assert health_warnings(snapshot, snapshot, (6,), long_trial=True)[1].startswith("other")
    assert parse_load("") == {}


# -- sustained windows -------------------------------------------------------------------------


def _sustained_result(wall=20.0, n=2000, slows_at=0.5):
    samples = np.where(np.arange(n) < n * slows_at, 1.0, 1.25)
    ticks = [{"t_s": t, "thermal_state": "none" if t < 9.0 else "light", "hottest_c": 40 + t / 2,
              "freqs_mhz": [500] * 6 + [2850 if t < 9.0 else 2401] * 2} for t in np.arange(0, wall, 0.5)]
    energy = {"kind": "counter", "unit": "uJ", "channels": ["cpu"], "summed": ["cpu"],
              "active": {"t_s": list(np.arange(100.0, 100.0 + wall + 0.05, 0.5)),
                         "values": [[t * 2e6] for t in np.arange(0, wall + 0.05, 0.5)]}}
    return RunResult(model="m", format="executorch", status="ok", device=DeviceInfo("P", "android"),
                     samples_ms=tuple(float(v) for v in samples), energy_samples=energy,
                     context={"timed_duration_s": wall, "health_series": ticks,
                              "cores": {"cpus": [6]}})


def test_a_sustained_trial_is_read_in_windows_with_its_first_throttle_and_its_regimes():
    s = sustained_context(_sustained_result(), 20.0)
    assert len(s["windows"]) == 20 and sum(w["n"] for w in s["windows"]) == 2000
    assert s["first_throttle_s"] == 9.0 and s["steady_to_burst"] == pytest.approx(0.8)
    assert s["windows"][0]["thermal_state"] == "none" and s["windows"][-1]["thermal_state"] == "light"
    assert s["windows"][0]["freq_mhz"] == 2850 and s["windows"][-1]["freq_mhz"] == 2401
    # 2 W; a sample's share of the 20 s is its share of the 2250 ms the samples add up to
    assert s["energy_burst_j"] == pytest.approx(2.0 * 20.0 * 1.0 / 2250, rel=0.05)
    assert s["energy_steady_j"] == pytest.approx(2.0 * 20.0 * 1.25 / 2250, rel=0.05)


def test_sustained_is_a_duration_and_one_long_trial():
    assert [parse_duration(v) for v in ("10m", "90s", "600", 1.5, "1h")] == [600, 90, 600, 1.5, 3600]
    with pytest.raises(UsageError, match="--sustained 'soon': give a duration such as 10m"):
        MeasurementSettings.from_values({"sustained_s": "soon"})
    settings = MeasurementSettings.from_values({"sustained_s": "2m", "trials": 5})
    assert settings.first_trials == settings.trial_budget == 1 and not settings.adaptive
    request = settings.request(model="m", format="f", runtime="r", artifact_path="a",
                               artifact_sha256="", input_shape=(1,))
    assert request.min_duration_s == request.max_duration_s == 120.0 and request.timeout_s >= 264


# -- plausibility ------------------------------------------------------------------------------


def _record(median_ms: float, macs: float, peak: float, precision: str = "fp32") -> BenchmarkRecord:
    trials = [[median_ms * (1 + 0.001 * i) for i in range(50)] for _ in range(3)]
    result = RunResult(model="m", format="executorch", status="ok", device=DeviceInfo("P", "android"),
                       samples_ms=tuple(trials[0]), precision=precision,
                       context={"compute_peak": {"fp32_macs_per_s": peak, "source": "test"}})
    results = tuple(RunResult(**{**result.__dict__, "samples_ms": tuple(t)}) for t in trials)
    return BenchmarkRecord(run_id="r", model="m", format="executorch", device_id="P", status="ok",
                           reason="", artifact={"precision": precision}, model_info={"macs": macs},
                           result=result, stats=summarize_trials(trials), trials=results)


def test_a_cell_faster_than_its_hardware_is_implausible_and_invalid():
    fine = plausibility(_record(10.0, 1e9, 1e12))  # 1 GMAC in 10 ms on a 1 TMAC/s core: 10%
    assert fine["efficiency"] == pytest.approx(0.1, rel=0.05) and not fine["implausible"]
    too_fast = _record(0.1, 1e9, 1e12)  # 10 TMAC/s on the same core
    figures = plausibility(too_fast)
    assert figures["implausible"] and figures["efficiency"] > 1
    verdict = validity(too_fast, {})
    [check] = [c for c in verdict.checks if c.name == "plausible"]
    assert not check.passed and check.text.startswith("faster than the hardware can compute: 9.76e+03 GMAC/s against a peak of 1e+03 (test, fp32)")
    assert plausibility(_record(0.3, 1e9, 1e12, precision="int8"))["efficiency"] == pytest.approx(
        1e9 / 0.3e-3 / 4e12, rel=0.05)
