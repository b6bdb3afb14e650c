"""What an energy source is: a way to read a number per channel, once, cheaply.

Each source module (rapl, odpm, battery) finds its sensor and returns an `EnergySource`; the
sampler reads it on a clock; nothing here computes an energy (that is `harness.energy`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, NamedTuple

from device_runners.errors import DeviceError


class SensorUnavailable(DeviceError):
    """A sensor exists but cannot be used; the message says what to do about it."""


class Reading(NamedTuple):
    """One read of a source: a number per channel, and the sensor's own clock when it has one."""

    values: tuple[float, ...]
    t_s: float | None = None  # None: the sampler stamps the reading with the host clock
    status: str = ""  # battery charging status word at this reading


@dataclass(frozen=True)
class EnergySource:
    """What a sensor measures and how to read it once. `read` must be cheap and thread-safe."""

    name: str  # rapl, odpm, battery, ios
    kind: str  # counter, power, battery
    unit: str
    channels: tuple[str, ...]
    summed: tuple[str, ...]
    read: Callable[[], Reading] = field(repr=False, compare=False)
    counter_ranges: tuple[int | None, ...] | None = None

