"""A phone's physics as a pure function of its inputs: what the simulated phones report and how
fast their cores run, deterministic for a profile, a seed and a log of what happened.

Why a replayable function rather than a live object: the stand-ins run in several processes
(the adb simulator's ticker in the test, the `taskset` shim on the simulated phone, the iOS tool
stand-ins), and all must agree on the phone's state at every instant. So the state at time t is
computed from

    the profile      clusters, power, thermal constants, throttling steps (profiles.yaml)
    the seed         session offsets, background bursts, the governor's wander
    boot             the host's time.monotonic() when the phone booted
    the inputs log   a JSONL file of what changed and when (host monotonic seconds):
                       {"t": .., "work": ID, "cpus": [..]}   a process started on those CPUs
                       {"t": .., "done": ID}                 it ended
                       {"t": .., "charging": true|false}
                       {"t": .., "pin": CPU, "governor": .., "min_khz": .., "max_khz": ..}
                       {"t": .., "ambient_c": ..}

by integrating in steps of DT seconds from boot. `time_scale` speeds the thermal dynamics up (a
test sees a minute of heat in a second); frequencies, speeds and time stamps stay in host time.

A core's speed is its capacity (of 1024 at its cluster's top frequency) times its frequency over
that top frequency, less the share background bursts take. The `taskset` shim divides the
durations a runner measured on this host by that speed (tests/support/adb_sim/physics.py): the
host's core stands for the fastest core at its top frequency.
"""

from __future__ import annotations

import bisect
import json
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import yaml

PROFILES_PATH = Path(__file__).with_name("profiles.yaml")
DT = 0.05  # seconds of host time per integration step
HYSTERESIS_C = 0.5  # a throttling step ends this far below the temperature that began it


@dataclass(frozen=True)
class Cluster:
    name: str
    core: str
    cores: int
    capacity: int
    busy_w: float
    freqs_khz: tuple[int, ...]

    @property
    def max_khz(self) -> int:
        return self.freqs_khz[-1]


@dataclass(frozen=True)
class ThrottleStep:
    at_c: float
    status: int | str
    caps: dict[str, float]


@dataclass(frozen=True)
class Profile:
    key: str
    name: str
    platform: str
    soc: str
    clusters: tuple[Cluster, ...]
    idle_w: float
    thermal: dict
    throttle: tuple[ThrottleStep, ...]
    session_sd: float
    background: dict
    battery: dict
    governor: dict

    @property
    def cpus(self) -> list[Cluster]:
        """The cluster of each CPU number, little cores first (as phones number them)."""
        return [c for c in self.clusters for _ in range(c.cores)]

    def cluster(self, name: str) -> Cluster:
        return next(c for c in self.clusters if c.name == name)

    def cpus_of(self, name: str) -> list[int]:
        return [i for i, c in enumerate(self.cpus) if c.name == name]


@cache
def load_profiles(path: str = str(PROFILES_PATH)) -> dict[str, Profile]:
    data = yaml.safe_load(Path(path).read_text())
    profiles = {}
    for key, p in data.items():
        clusters = tuple(Cluster(c["name"], c["core"], int(c["cores"]), int(c["capacity"]),
                                 float(c["busy_w"]), tuple(int(f) * 1000 for f in c["freqs_mhz"]))
                         for c in p["clusters"])
        throttle = tuple(ThrottleStep(float(s["at_c"]), s["status"], dict(s["caps"]))
                         for s in p["throttle"])
        profiles[key] = Profile(key, p["name"], p["platform"], p["soc"], clusters,
                                float(p["idle_w"]), dict(p["thermal"]), throttle,
                                float(p["session_sd"]), dict(p["background"]), dict(p["battery"]),
                                dict(p["governor"]))
    return profiles


def profile(key: str) -> Profile:
    profiles = load_profiles()
    if key not in profiles:
        raise KeyError(f"No phone profile {key!r}; profiles.yaml has {', '.join(profiles)}.")
    return profiles[key]


@dataclass(frozen=True)
class Inputs:
    """The inputs log, read: intervals of work, and the settings in force from each time on."""

    work: tuple[tuple[float, float, tuple[int, ...]], ...]  # (start, end or inf, cpus)
    changes: tuple[tuple[float, dict], ...]  # (t, the entry), in time order

    @classmethod
    def read(cls, path: Path | None) -> Inputs:
        entries = []
        if path is not None and path.exists():
            for line in path.read_text().splitlines():
                try:
                    entries.append(json.loads(line))
                except ValueError:  # a line being written right now
                    continue
        starts, ends = {}, {}
        changes = []
        for e in entries:
            if "work" in e:
                starts[e["work"]] = (float(e["t"]), tuple(int(c) for c in e["cpus"]))
            elif "done" in e:
                ends[e["done"]] = float(e["t"])
            else:
                changes.append((float(e["t"]), e))
        work = tuple((t0, ends.get(key, math.inf), cpus) for key, (t0, cpus) in starts.items())
        return cls(tuple(sorted(work)), tuple(sorted(changes, key=lambda c: c[0])))

    def sessions_before(self, t: float) -> int:
        """How many processes started before `t`: the index of the next one's session offset."""
        return sum(1 for start, _, _ in self.work if start < t)


class PhoneModel:
    """The phone's state over time; `advance(t)` integrates up to host monotonic time `t`."""

    def __init__(self, profile: Profile, *, seed: int = 0, boot: float = 0.0,
                 inputs: Path | None = None, time_scale: float = 1.0, ambient_c: float | None = None):
        self.profile = profile
        self.seed = seed
        self.boot = boot
        self.inputs_path = inputs
        self.time_scale = time_scale
        th = profile.thermal
        self._ambient = float(th["ambient_c"] if ambient_c is None else ambient_c)
        self.t = boot
        self.skin_c = self._ambient
        self.die_c = self._ambient
        self.used_mah = 0.0
        self._step = 0  # throttle steps in force (0: none)
        self.times: list[float] = []
        self.power_w: list[float] = []
        self.cluster_power_w: list[tuple[float, ...]] = []
        self.freqs: list[tuple[int, ...]] = []
        self.speeds: list[tuple[float, ...]] = []
        self.skin: list[float] = []
        self.die: list[float] = []
        self.steps: list[int] = []
        self.background: list[float] = []
        self.used: list[float] = []
        self._inputs = Inputs.read(inputs)
        self._bursts = self._burst_times()
        self._energy: dict[str, np.ndarray] = {}  # cumulative joules per rail, per step

    # -- what happened ------------------------------------------------------------------------

    def _refresh_inputs(self) -> None:
        """Read the log again; an entry dated before the state already integrated (a process
        logged its start while the ticker was mid-step) rolls the integration back to it."""
        before = self._inputs
        self._inputs = Inputs.read(self.inputs_path)
        if self._inputs == before:
            return
        known = set(before.work) | {c[0] for c in before.changes}
        new = [w[0] for w in self._inputs.work if w not in known]
        new += [w[1] for w in self._inputs.work if w not in known and w[1] != math.inf]
        new += [t for t, _ in self._inputs.changes if t not in known]
        earliest = min(new, default=math.inf)
        if earliest < self.t:
            self._rollback(earliest)

    def _rollback(self, t: float) -> None:
        keep = bisect.bisect_right(self.times, t)
        for series in (self.times, self.power_w, self.cluster_power_w, self.freqs, self.speeds,
                       self.skin, self.die, self.steps, self.background, self.used):
            del series[keep:]
        if keep:
            self.t, self.skin_c, self.die_c = self.times[-1], self.skin[-1], self.die[-1]
            self._step, self.used_mah = self.steps[-1], self.used[-1]
        else:
            self.t, self.skin_c, self.die_c = self.boot, self._ambient, self._ambient
            self._step, self.used_mah = 0, 0.0
        self._energy.clear()

    def _setting(self, t: float, key: str, default, cpu: int | None = None):
        value = default
        for when, entry in self._inputs.changes:
            if when > t:
                break
            if key in entry and (cpu is None or entry.get("pin") == cpu):
                value = entry[key]
        return value

    def _busy(self, t: float) -> set[int]:
        return {cpu for start, end, cpus in self._inputs.work if start <= t < end for cpu in cpus}

    def _burst_times(self) -> np.ndarray:
        """Start times (s after boot) of background bursts: a Poisson process, an hour's worth."""
        rate = float(self.profile.background.get("per_min", 0)) / 60.0
        if rate <= 0:
            return np.empty(0)
        rng = np.random.default_rng([self.seed, 1])
        gaps = rng.exponential(1.0 / rate, size=int(rate * 3600 * 2) + 10)
        return np.cumsum(gaps)

    def background_share(self, t: float) -> float:
        """The share of a core other work takes at `t` (on every core alike)."""
        since = t - self.boot
        seconds = float(self.profile.background.get("seconds", 0))
        i = bisect.bisect_right(self._bursts, since) - 1
        if i >= 0 and since - self._bursts[i] < seconds:
            return float(self.profile.background.get("share", 0))
        return 0.0

    def session_factor(self, index: int) -> float:
        """The speed offset of the `index`-th process started on the phone (its session)."""
        rng = np.random.default_rng([self.seed, 2, index])
        return float(math.exp(rng.normal(0.0, self.profile.session_sd)))

    # -- the integration ----------------------------------------------------------------------

    def advance(self, t: float) -> None:
        self._refresh_inputs()
        while self.t + DT <= t:
            self._integrate(self.t + DT)

    def _integrate(self, t: float) -> None:
        p = self.profile
        busy = self._busy(t)
        charging = bool(self._setting(t, "charging", False))
        ambient = float(self._setting(t, "ambient_c", self._ambient))
        self._step = self._throttle_step(self.skin_c)
        caps = self._caps(self._step)
        freqs, speeds, cluster_w = [], [], {c.name: 0.0 for c in p.clusters}
        wander_rng = np.random.default_rng([self.seed, 3, len(self.times)])
        wander = float(p.governor.get("wander_per_s", 0)) * DT
        share = self.background_share(t)
        for cpu, cluster in enumerate(p.cpus):
            top = cluster.max_khz
            cap_khz = top * caps.get(cluster.name, 1.0)
            governor = self._setting(t, "governor", p.governor.get("name", "schedutil"), cpu)
            min_khz = self._setting(t, "min_khz", None, cpu)
            max_khz = self._setting(t, "max_khz", None, cpu)
            cluster_busy = any(c in busy for c in self._cluster_cpus(cluster.name))
            if min_khz is not None and max_khz is not None and min_khz == max_khz:
                want = int(max_khz)  # pinned (by root): the thermal cap still wins
            elif governor == "performance" or cluster_busy:
                want = top if max_khz is None else int(max_khz)
            else:
                want = cluster.freqs_khz[0]
            khz = _level_at_most(cluster.freqs_khz, min(want, cap_khz))
            if cluster_busy and governor not in ("performance", "userspace") and wander_rng.random() < wander:
                khz = _level_at_most(cluster.freqs_khz, khz - 1)  # the governor's wander
            freqs.append(khz)
            speed = cluster.capacity / 1024.0 * khz / top * (1.0 - share)
            speeds.append(speed)
            if cpu in busy:
                cluster_w[cluster.name] += cluster.busy_w * (khz / top) ** 3
        power = p.idle_w + sum(cluster_w.values()) + (float(p.battery.get("charge_w", 0)) if charging else 0.0)
        th = p.thermal
        dt = (t - self.t) * self.time_scale
        skin_target = ambient + power * float(th["skin_c_per_w"])
        self.skin_c += (skin_target - self.skin_c) * (1 - math.exp(-dt / float(th["skin_tau_s"])))
        die_target = self.skin_c + power * float(th["die_c_per_w"])
        self.die_c += (die_target - self.die_c) * (1 - math.exp(-dt / float(th["die_tau_s"])))
        volts, hours = float(p.battery["voltage_v"]), (t - self.t) / 3600.0
        if charging:  # the charger feeds the phone and fills the battery at charge_w
            self.used_mah -= float(p.battery.get("charge_w", 0)) / volts * 1000.0 * hours
        else:
            self.used_mah += power / volts * 1000.0 * hours
        self.t = t
        self.times.append(t)
        self.power_w.append(power)
        self.cluster_power_w.append(tuple(cluster_w[c.name] for c in p.clusters))
        self.freqs.append(tuple(freqs))
        self.speeds.append(tuple(speeds))
        self.skin.append(self.skin_c)
        self.die.append(self.die_c)
        self.steps.append(self._step)
        self.background.append(share)
        self.used.append(self.used_mah)
        self._energy.clear()

    def _cluster_cpus(self, name: str) -> list[int]:
        return self.profile.cpus_of(name)

    def _throttle_step(self, skin_c: float) -> int:
        """Steps in force: one begins at its temperature, ends HYSTERESIS_C below it."""
        step = 0
        for i, s in enumerate(self.profile.throttle, 1):
            threshold = s.at_c - (HYSTERESIS_C if self._step >= i else 0.0)
            if skin_c >= threshold:
                step = i
        return step

    def _caps(self, step: int) -> dict[str, float]:
        return dict(self.profile.throttle[step - 1].caps) if step else {}

    # -- what the phone reports at a time ------------------------------------------------------

    def _index(self, t: float) -> int:
        """The step in force at `t` (advancing to it first)."""
        if t > self.t:
            self.advance(t)
        if not self.times:
            self._integrate(self.boot + DT)
        i = bisect.bisect_right(self.times, t) - 1
        return max(i, 0)

    def freq_khz(self, t: float, cpu: int) -> int:
        return self.freqs[self._index(t)][cpu]

    def speed(self, t: float, cpus) -> float:
        """The speed of the slowest of `cpus` at `t` (a parallel kernel waits for it)."""
        row = self.speeds[self._index(t)]
        return min(row[c] for c in cpus) if cpus else max(row)

    def skin_temp_c(self, t: float) -> float:
        return self.skin[self._index(t)]

    def die_temp_c(self, t: float) -> float:
        return self.die[self._index(t)]

    def throttle_step(self, t: float) -> int:
        return self.steps[self._index(t)]

    def thermal_status(self, t: float):
        """Android's 0-6 or iOS's nominal/fair/serious/critical, from the steps in force."""
        step = self.steps[self._index(t)]
        if step == 0:
            return 0 if self.profile.platform == "android" else "nominal"
        return self.profile.throttle[step - 1].status

    def power(self, t: float) -> float:
        return self.power_w[self._index(t)]

    def cluster_power(self, t: float, name: str) -> float:
        names = [c.name for c in self.profile.clusters]
        return self.cluster_power_w[self._index(t)][names.index(name)]

    def energy_j(self, t: float, cluster: str | None = None) -> float:
        """Energy since boot up to `t`, of one cluster's cores (None: the rest of the phone).
        Step i stands for the DT up to times[i] at its power; time past the last step whole
        counts at the power of the step it follows."""
        i = self._index(t)
        key = cluster or ""
        if key not in self._energy:
            self._energy[key] = np.cumsum([self._rail_power(j, cluster) * DT
                                           for j in range(len(self.times))])
        energy = float(self._energy[key][i])
        return energy + self._rail_power(i, cluster) * (t - self.times[i])

    def _rail_power(self, i: int, cluster: str | None) -> float:
        if cluster is None:
            return self.power_w[i] - sum(self.cluster_power_w[i])
        names = [c.name for c in self.profile.clusters]
        return self.cluster_power_w[i][names.index(cluster)]

    def charging(self, t: float) -> bool:
        return bool(self._setting(t, "charging", False))

    def battery_pct(self, t: float) -> float:
        self._index(t)
        capacity = float(self.profile.battery["capacity_mah"])
        level = float(self.profile.battery["level_pct"]) - 100.0 * self.used_mah / capacity
        return max(0.0, min(100.0, level))

    def battery_current_ua(self, t: float) -> int:
        """Signed as Android's current_now on Pixels: negative while discharging."""
        volts = float(self.profile.battery["voltage_v"])
        if self.charging(t):
            return int(float(self.profile.battery.get("charge_w", 0)) / volts * 1e6)
        return -int(self.power(t) / volts * 1e6)

    def background_load(self, t: float) -> float:
        return self.background[self._index(t)]


def _level_at_most(levels: tuple[int, ...], khz: float) -> int:
    """The highest ladder frequency at most `khz` (the lowest one if none is)."""
    i = bisect.bisect_right(levels, khz) - 1
    return levels[max(i, 0)]


# -- what the model itself expects, for benchmarks/sustained.py -------------------------------


@dataclass(frozen=True)
class SustainedTruth:
    first_throttle_s: float | None  # host seconds after the start of load
    steady_ratio: float  # speed over the last fifth of the run / speed at its start


def sustained_truth(profile: Profile, cpus, seconds: float, *, time_scale: float = 1.0,
                    seed: int = 0, warm_c: float | None = None) -> SustainedTruth:
    """Load `cpus` from t = 0 for `seconds` on a fresh model (background bursts and the
    governor's wander included): when the first throttling step begins, and the speed of the
    last fifth of the run against the first second's."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "inputs.jsonl"
        log.write_text(json.dumps({"t": 0.0, "work": "load", "cpus": list(cpus)}) + "\n")
        model = PhoneModel(profile, seed=seed, boot=0.0, inputs=log, time_scale=time_scale,
                           ambient_c=warm_c)
        model.advance(seconds)
    times = np.asarray(model.times)
    steps = np.asarray(model.steps)
    speed = np.asarray([min(row[c] for c in cpus) for row in model.speeds])
    throttled = np.nonzero(steps > 0)[0]
    first = float(times[throttled[0]]) if throttled.size else None
    start = speed[times <= 1.0].mean()
    end = speed[times >= seconds * 0.8].mean()
    return SustainedTruth(first, float(end / start))
