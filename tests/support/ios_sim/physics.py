"""The simulated iPhones' physics (tests/support/phone_physics): a phone added with
`physics="iphone12"` reports the model's thermal state, battery level, charging, battery
temperature and current, and the stand-in app's measurements are scaled to its performance
cores (iOS gives an app no say over cores: the fastest cluster stands for where it runs).

The stand-ins are separate processes, so the model is replayed in each from the phone's
settings (profile, seed, boot time, time scale) and its inputs log
(`<root>/physics-<udid>.jsonl`), to which the app logs its work and a test its changes
(`IosSim.physics_log`).
"""

from __future__ import annotations

import dataclasses
import json
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported lazily below: a phone without physics needs none of it
    from tests.support.phone_physics import PhoneModel

# iOS's ProcessInfo.ThermalState names, in order
IOS_STATES = ("nominal", "fair", "serious", "critical")


def inputs_path(state, udid: str):
    return state.root / f"physics-{udid}.jsonl"


def log(state, udid: str, entry: dict) -> None:
    with open(inputs_path(state, udid), "a") as f:
        f.write(json.dumps({"t": time.monotonic(), **entry}) + "\n")


def model_of(state, phone) -> PhoneModel | None:
    """The phone's model, replayed up to now; None for a phone without physics."""
    if not getattr(phone, "physics", ""):
        return None
    from tests.support.phone_physics import PhoneModel, profile as load_profile  # numpy, yaml: only here

    model = PhoneModel(load_profile(phone.physics), seed=phone.physics_seed, boot=phone.physics_boot,
                       inputs=inputs_path(state, phone.udid), time_scale=phone.physics_time_scale)
    model.advance(time.monotonic())
    return model


def as_modelled(state, phone):
    """`phone` with what the model says now in place of its fixed settings."""
    model = model_of(state, phone)
    if model is None:
        return phone
    t = model.t
    volts = float(model.profile.battery["voltage_v"])
    current_ma = model.battery_current_ua(t) / 1000.0
    return dataclasses.replace(
        phone, thermal_state=str(model.thermal_status(t)), charging=model.charging(t),
        battery_level=round(model.battery_pct(t) / 100.0, 3),
        battery_temp_c=round(model.skin_temp_c(t) - 1.0, 1), voltage_mv=volts * 1000.0,
        idle_current_ma=current_ma, busy_current_ma=current_ma)


def performance_cores(phone, threads: int) -> list[int]:
    """The cores an app's threads run on: the fastest cluster's first ones."""
    from tests.support.phone_physics import profile as load_profile

    p = load_profile(phone.physics)
    fastest = p.cpus_of(p.clusters[-1].name)
    return fastest[:max(1, threads)]
