"""A sustained cell (`harness run --sustained 10m`): one long trial, read in windows.

A phone runs a model fast for a minute or two and then throttles; a benchmark of short trials
measures the burst only, and a paper's "1 ms" may hold for thirty seconds. So a sustained cell
runs one trial of the given length and cuts it into WINDOWS windows of equal share of the timed
samples; each window gets its median and p90, and from what the device recorded meanwhile
(device_runners: the context's `health_series` ticks and the energy readings) its thermal state,
hottest temperature, clocks and energy per inference. Then:

    first throttle   seconds from the start of the timed loop to the first tick whose thermal
                     state is beyond none/nominal (None: the device never said it throttled)
    burst, steady    the median latency of the first BURST_SHARE of the samples and of the
                     last STEADY_SHARE
    steady_to_burst  burst / steady: the share of its burst speed the device keeps (0.7: it
                     settles 30% slower)
    energy           joules per inference before the first throttle and over the steady part,
                     where the energy source is a counter (ODPM, RAPL) read during the trial

Times are wall seconds from the start of the timed loop. A sample's time is its share of the
summed samples times the loop's wall duration (`timed_duration_s`): the same as its own clock on
a device whose samples are its wall time, proportional on a simulated phone whose samples are
scaled to modelled cores (tests/support/adb_sim/physics.py).
"""

from __future__ import annotations

import numpy as np

WINDOWS = 20
BURST_SHARE = 0.05
STEADY_SHARE = 0.2
CALM_STATES = ("none", "nominal", "unknown", "")


def sustained_context(result, seconds: float) -> dict:
    """The `sustained` entry of a sustained cell's context (module docstring)."""
    samples = np.asarray(result.samples_ms, dtype=np.float64)
    if samples.size < WINDOWS:
        return {"seconds": seconds, "windows": [], "why": f"only {samples.size} samples"}
    context = result.context
    wall = float(context.get("timed_duration_s") or samples.sum() / 1000.0)
    times = np.cumsum(samples) / samples.sum() * wall  # each sample's end, wall seconds
    edges = np.linspace(0, samples.size, WINDOWS + 1).astype(int)
    ticks = [t for t in context.get("health_series") or [] if t.get("t_s") is not None]
    cpus = (context.get("cores") or {}).get("cpus") or []
    energy = _energy_readings(result)
    windows = []
    for a, b in zip(edges, edges[1:]):
        chunk = samples[a:b]
        t0, t1 = float(times[a - 1]) if a else 0.0, float(times[b - 1])
        near = [t for t in ticks if t0 <= t["t_s"] <= t1] or _nearest(ticks, (t0 + t1) / 2)
        window = {"t0_s": round(t0, 3), "t1_s": round(t1, 3), "n": int(chunk.size),
                  "median_ms": float(np.median(chunk)), "p90_ms": float(np.percentile(chunk, 90)),
                  "thermal_state": _worst_state(near), "hottest_c": _hottest(near),
                  "freq_mhz": _mean_freq(near, cpus)}
        joules = _energy_between(energy, t0, t1)
        if joules is not None:
            window["energy_j_per_inference"] = joules / chunk.size
        windows.append(window)
    first = next((t["t_s"] for t in ticks if t.get("thermal_state") not in CALM_STATES), None)
    burst = float(np.median(samples[: max(1, int(samples.size * BURST_SHARE))]))
    steady = float(np.median(samples[int(samples.size * (1 - STEADY_SHARE)):]))
    summary = {"seconds": seconds, "windows": windows, "first_throttle_s": first,
               "burst_ms": burst, "steady_ms": steady, "steady_to_burst": burst / steady,
               "ticks": len(ticks)}
    summary.update(_regime_energy(windows, first, wall))
    return summary


def _nearest(ticks: list[dict], t: float) -> list[dict]:
    return [min(ticks, key=lambda k: abs(k["t_s"] - t))] if ticks else []


def _worst_state(ticks: list[dict]) -> str:
    states = [t.get("thermal_state") or "unknown" for t in ticks]
    hot = [s for s in states if s not in CALM_STATES]
    return hot[-1] if hot else (states[0] if states else "unknown")


def _hottest(ticks: list[dict]) -> float | None:
    temps = [t["hottest_c"] for t in ticks if t.get("hottest_c") is not None]
    return max(temps) if temps else None


def _mean_freq(ticks: list[dict], cpus: list[int]) -> float | None:
    values = [t["freqs_mhz"][c] for t in ticks for c in cpus if c < len(t.get("freqs_mhz") or [])]
    return float(np.mean(values)) if values else None


def _energy_readings(result) -> tuple[np.ndarray, np.ndarray] | None:
    """(seconds from the loop's start, joules so far) of a counter source's active window."""
    samples = result.energy_samples or {}
    active = samples.get("active") or {}
    if samples.get("kind") != "counter" or len(active.get("t_s") or []) < 2:
        return None
    scale = {"uJ": 1e-6, "mJ": 1e-3, "J": 1.0}.get(samples.get("unit", "uJ"), 1e-6)
    channels = samples.get("channels") or []
    summed = [channels.index(c) for c in samples.get("summed") or channels if c in channels]
    t = np.asarray(active["t_s"], dtype=np.float64)
    values = np.asarray(active["values"], dtype=np.float64)[:, summed].sum(axis=1) * scale
    wall = float(result.context.get("timed_duration_s") or 0.0)
    return t - (t[-1] - wall), values - values[0]


def _energy_between(energy, t0: float, t1: float) -> float | None:
    if energy is None:
        return None
    t, joules = energy
    if t1 <= t0 or t[0] > t0 + 1e-9 and t[-1] < t1 - 1e-9:
        return None
    return float(np.interp(t1, t, joules) - np.interp(t0, t, joules))


def _regime_energy(windows: list[dict], first_throttle_s: float | None, wall: float) -> dict:
    def per_inference(chosen: list[dict]) -> float | None:
        known = [w for w in chosen if "energy_j_per_inference" in w]
        if not known:
            return None
        return sum(w["energy_j_per_inference"] * w["n"] for w in known) / sum(w["n"] for w in known)

    before = [w for w in windows if first_throttle_s is None or w["t1_s"] <= first_throttle_s]
    steady = [w for w in windows if w["t0_s"] >= wall * (1 - STEADY_SHARE) - 1e-9]
    return {"energy_burst_j": per_inference(before), "energy_steady_j": per_inference(steady)}
