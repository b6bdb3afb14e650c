"""A simulated phone with a phone's physics (tests/support/phone_physics): what every file and
command the runners read says follows the model, and what a runner measures on this host is
scaled to the modelled core it ran on.

    with SimulatedPhone("SIM0001", root=...) as phone:
        physics = attach_physics(phone, "pixel7", seed=1, time_scale=30, rooted=False)
        physics.set_charging(True)        # the battery charges from now on (and heats the phone)
        physics.set_ambient(35.0)         # a warm room
        physics.model.skin_temp_c(time.monotonic())

What follows the model: every CPU's `cpuinfo_max_freq`, `cpu_capacity`, `scaling_cur_freq`,
`scaling_available_frequencies`, `scaling_governor`; thermal zones and `dumpsys thermalservice`;
`dumpsys battery` and the battery's sysfs files; ODPM energy counters per CPU cluster; `dumpsys
cpuinfo` (the load of other processes); `dumpsys power` (the screen). The model's inputs (which
CPUs are busy, charging, the room, frequencies a root shell pinned) go to its inputs log.

How a measurement is scaled: /system/bin/taskset on this phone is `physics_shims/taskset`, which
logs the work on the CPUs of the mask, runs the command on this host's CPUs, and afterwards
divides the durations in the native runner's result by the speed the model gives the masked
cores at each moment (and the process's session offset). This host's core stands for the
phone's fastest core at its top frequency. Other programs (benchmark_model, the app) are
logged as work but report this host's timings.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path

from tests.support.paths import ROOT
from tests.support.phone_physics import PhoneModel
from tests.support.phone_physics import profile as load_profile

from .sysfs import CPU_DIR, OdpmRail

PHYSICS_DIR = "/system/etc/adb_sim/physics"  # the shims' config and the model's inputs log
SHIMS = Path(__file__).with_name("physics_shims")
# ODPM rails of the CPU clusters (Pixel names), slowest first, and the rest of the phone.
CLUSTER_RAILS = ("S4M_VDD_CPUCL0", "S3M_VDD_CPUCL1", "S2M_VDD_CPUCL2")
REST_RAIL = "S1M_VDD_MIF"
ANDROID_PROPS = {
    "pixel7": {"ro.product.model": "Pixel 7", "ro.soc.model": "GS201", "ro.board.platform": "gs201"},
    "galaxy_s23": {"ro.product.manufacturer": "samsung", "ro.product.brand": "samsung",
                   "ro.product.model": "SM-S911B", "ro.soc.manufacturer": "QTI",
                   "ro.soc.model": "SM8550", "ro.board.platform": "kalama"},
}


class PhonePhysics:
    """The model behind one simulated phone, and the controls a test has over it."""

    def __init__(self, phone, profile_key: str, seed: int, time_scale: float):
        self.phone = phone
        self.profile = load_profile(profile_key)
        self.inputs = phone.host_path(f"{PHYSICS_DIR}/inputs.jsonl")
        self.inputs.parent.mkdir(parents=True, exist_ok=True)
        self.inputs.touch()
        self.model = PhoneModel(self.profile, seed=seed, boot=phone._boot, inputs=self.inputs,
                                time_scale=time_scale)
        self._lock = threading.Lock()
        self._pins: dict[int, tuple] = {}

    # -- controls -------------------------------------------------------------------------------

    def log(self, entry: dict) -> None:
        with self._lock, open(self.inputs, "a") as f:
            f.write(json.dumps({"t": time.monotonic(), **entry}) + "\n")

    def set_charging(self, charging: bool) -> None:
        self.log({"charging": bool(charging)})

    def set_ambient(self, celsius: float) -> None:
        self.log({"ambient_c": float(celsius)})

    def now(self) -> float:
        """The model's state, brought up to now (host monotonic seconds)."""
        t = time.monotonic()
        self.model.advance(t)
        return t

    # -- kept up to date on every tick of the phone's files ---------------------------------------

    def tick(self, _uptime: float) -> str:
        """Advance the model; log pins a root shell wrote and work whose process died unseen."""
        self._log_pins()
        self._log_dead_work()
        t = self.now()
        return json.dumps({"t": t, "skin_c": round(self.model.skin_temp_c(t), 2),
                           "step": self.model.throttle_step(t)})

    def _log_pins(self) -> None:
        for cpu in range(len(self.profile.cpus)):
            base = f"{CPU_DIR}/cpu{cpu}/cpufreq"
            try:
                pin = (self.phone.sysfs.read(f"{base}/scaling_governor").strip(),
                       int(self.phone.sysfs.read(f"{base}/scaling_min_freq")),
                       int(self.phone.sysfs.read(f"{base}/scaling_max_freq")))
            except (OSError, ValueError):
                continue
            if self._pins.get(cpu) != pin:
                if cpu in self._pins:  # the first look is the phone's own setting, not a pin
                    self.log({"pin": cpu, "governor": pin[0], "min_khz": pin[1], "max_khz": pin[2]})
                self._pins[cpu] = pin

    def _log_dead_work(self) -> None:
        """A `taskset` killed with SIGKILL (by `timeout`) never logs that its work ended."""
        open_work: dict[str, int] = {}
        for line in self.inputs.read_text().splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if "work" in entry:
                open_work[entry["work"]] = int(entry.get("pid", 0))
            elif "done" in entry:
                open_work.pop(entry["done"], None)
        for work, pid in open_work.items():
            if pid and not Path(f"/proc/{pid}").exists():
                self.log({"done": work})

    # -- what the phone's files say ---------------------------------------------------------------

    def thermalservice(self, _uptime: float) -> str:
        t = self.now()
        status = self.model.thermal_status(t)
        die, skin = self.model.die_temp_c(t), self.model.skin_temp_c(t)
        lines = ["IsStatusOverride: false", f"Thermal Status: {status}",
                 "Current temperatures from HAL:"]
        for zone_type, name, value in ((0, "BIG", die), (0, "LITTLE", die - 2.0),
                                       (3, "VIRTUAL-SKIN", skin), (2, "battery", skin - 1.0)):
            lines.append(f"\tTemperature{{mValue={value:.1f}, mType={zone_type}, mName={name}, "
                         f"mStatus={status}}}")
        return "\n".join(lines) + "\n"

    def battery_dumpsys(self, _uptime: float) -> str:
        t = self.now()
        charging = self.model.charging(t)
        level = int(self.model.battery_pct(t))
        return ("Current Battery Service state:\n"
                f"  AC powered: false\n  USB powered: {'true' if charging else 'false'}\n"
                "  Wireless powered: false\n  present: true\n"
                f"  level: {level}\n  scale: 100\n  status: {2 if charging else 3}\n"
                f"  voltage: {int(float(self.profile.battery['voltage_v']) * 1000)}\n"
                f"  temperature: {int(round((self.model.skin_temp_c(t) - 1.0) * 10))}\n")

    def cpuinfo(self, _uptime: float) -> str:
        """`dumpsys cpuinfo`: the load of other processes (the model's background bursts)."""
        t = self.now()
        share = self.model.background_load(t)
        load = share * len(self.profile.cpus)
        other = round(share * 100)
        return (f"Load: {load:.2f} / {load:.2f} / {load:.2f}\n"
                "CPU usage from 10000ms to 0ms ago:\n"
                f"  {other}% 2048/com.google.android.gms.persistent: {other}% user + 0% kernel\n"
                f"{other}% TOTAL: {other}% user + 0% kernel\n")

    def rail_counter(self, cluster: str | None) -> ModelCounter:
        """The ODPM counter of one cluster's rail (None: the rest of the phone)."""
        return ModelCounter(self, cluster)


class ModelCounter:
    """An ODPM rail counter that prints the model's energy (sysfs.EnergyCounter's interface).
    The model's past may still change by a tick (a process logs its start while the ticker is
    mid-step), so counters are read from the model, never precomputed."""

    def __init__(self, physics: PhonePhysics, cluster: str | None):
        self._physics, self._cluster = physics, cluster
        self._printed = 0

    def energy_uws(self, t_ms: int) -> int:
        t = min(self._physics.phone._boot + t_ms / 1000.0, self._physics.now())
        # Never backwards, as a real counter: a process that ended a tick before the model
        # heard of it leaves a few milliseconds of its power counted.
        self._printed = max(self._printed, round(self._physics.model.energy_j(t, self._cluster) * 1e6))
        return self._printed


def attach_physics(phone, profile_key: str, *, seed: int = 0, time_scale: float = 1.0,
                   rooted: bool = False, odpm: bool = True) -> PhonePhysics:
    """Give `phone` the physics of the profile `profile_key` (phone_physics/profiles.yaml)."""
    physics = PhonePhysics(phone, profile_key, seed, time_scale)
    p = physics.profile
    if p.platform != "android":
        raise ValueError(f"Profile {profile_key!r} is not an Android phone.")
    for name, value in ANDROID_PROPS.get(profile_key, {}).items():
        phone.set_prop(name, value)
    # The model first: every other dynamic file is rendered after it has advanced.
    phone.files.write(f"{PHYSICS_DIR}/state", physics.tick)
    cpus = p.cpus
    last = f"0-{len(cpus) - 1}"
    for mask in ("possible", "present", "online"):
        phone.sysfs.write(f"{CPU_DIR}/{mask}", last)
    for cpu, cluster in enumerate(cpus):
        base = f"{CPU_DIR}/cpu{cpu}"
        phone.sysfs.write(f"{base}/online", 1)
        phone.sysfs.write(f"{base}/cpu_capacity", cluster.capacity)
        phone.sysfs.write(f"{base}/cpufreq/cpuinfo_max_freq", cluster.max_khz)
        phone.sysfs.write(f"{base}/cpufreq/cpuinfo_min_freq", cluster.freqs_khz[0])
        phone.sysfs.write(f"{base}/cpufreq/scaling_available_frequencies",
                          " ".join(str(f) for f in cluster.freqs_khz))
        phone.sysfs.write(f"{base}/cpufreq/scaling_governor", p.governor.get("name", "schedutil"))
        phone.sysfs.write(f"{base}/cpufreq/scaling_min_freq", cluster.freqs_khz[0])
        phone.sysfs.write(f"{base}/cpufreq/scaling_max_freq", cluster.max_khz)
        phone.sysfs.write(f"{base}/cpufreq/scaling_cur_freq",
                          lambda _u, cpu=cpu: physics.model.freq_khz(physics.now(), cpu))
    for kind, offset in (("BIG", 0.0), ("LITTLE", -2.0)):
        phone.sysfs.add_thermal_zone(
            kind, lambda _u, o=offset: int((physics.model.die_temp_c(physics.now()) + o) * 1000))
    phone.sysfs.add_thermal_zone("VIRTUAL-SKIN",
                                 lambda _u: int(physics.model.skin_temp_c(physics.now()) * 1000))
    phone.sysfs.set_battery(
        current_ua=lambda _u: physics.model.battery_current_ua(physics.now()),
        voltage_uv=int(float(p.battery["voltage_v"]) * 1e6),
        capacity=lambda _u: int(physics.model.battery_pct(physics.now())),
        status=lambda _u: "Charging" if physics.model.charging(physics.now()) else "Discharging")
    phone.set_dumpsys("thermalservice", physics.thermalservice)
    phone.set_dumpsys("battery", physics.battery_dumpsys)
    phone.set_dumpsys("cpuinfo", physics.cpuinfo)
    phone.set_dumpsys("power", "Power Manager State:\n  mWakefulness=Awake\n"
                               "Display Power: state=ON\n")
    if odpm:
        clusters = {rail: cluster.name for rail, cluster in zip(CLUSTER_RAILS, p.clusters)}
        rails = [OdpmRail(rail, 0.0, "CPU") for rail in clusters] + [OdpmRail(REST_RAIL, 0.0, "Memory")]
        device = phone.sysfs.add_odpm(rails)
        device.counters = {rail: physics.rail_counter(clusters.get(rail)) for rail in device.counters}
    config = {"repo": str(ROOT), "profile": profile_key, "seed": seed, "boot": phone._boot,
              "time_scale": time_scale, "inputs": f"{PHYSICS_DIR}/inputs.jsonl",
              "host_cpus": sorted(os.sched_getaffinity(0))}
    phone.files.write(f"{PHYSICS_DIR}/config.json", json.dumps(config))
    _install(phone, "taskset", python=True)
    if rooted:
        _install(phone, "su")
    return physics


def _install(phone, name: str, python: bool = False) -> None:
    target = phone.host_path(f"/system/bin/{name}")
    text = (SHIMS / name).read_text()
    if python:  # this interpreter: the shim imports the model from this checkout
        text = f"#!{sys.executable}\n" + text
    target.write_text(text)
    target.chmod(0o755)
