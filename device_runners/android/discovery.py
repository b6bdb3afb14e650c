"""Which phones are attached, and the one a `--device` string means.

`--device` takes an adb serial, a catalog name (`pixel7`, devices.yaml) or a product model
("Pixel 7"). The adb server is probed with a plain socket first (adb.py says why), so a machine
without one simply has no phones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from device_runners.android.adb import (
    AdbLink,
    AndroidDeviceError,
    DeviceCallFailed,
    DeviceGone,
    adb_client,
    adb_server_address,
    adb_server_reachable,
    start_server_hint,
)
from device_runners.android.catalog import PhoneSpec, load_catalog, normalize_name
from device_runners.android.probe import PROBE_SHELL, PhoneProbe, device_info, parse_probe
from device_runners.contract import DeviceInfo
from device_runners.errors import AmbiguousDevice, NoSuchDevice
from device_runners.runner import AttachedDevice, RunnerSettings

PROBE_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class AttachedPhone:
    """One entry of `adb devices`, probed when it is usable."""

    serial: str
    state: str  # adb's word: device, unauthorized, offline, ...
    probe: PhoneProbe | None = None
    error: str = ""

    @property
    def info(self) -> DeviceInfo:
        if self.probe is None:
            return DeviceInfo(device_id=self.serial, platform="android", kind="android",
                              product_model=f"({self.state})")
        return device_info(self.serial, self.probe, load_catalog())

    @property
    def label(self) -> str:
        model = self.probe.model if self.probe else self.state
        return f"{self.serial} ({model})"

    def describe_state(self) -> str:
        if self.error:
            return self.error
        if self.probe is None:
            hints = {"unauthorized": "accept the USB debugging prompt on the phone",
                     "offline": "replug the cable or restart adb"}
            return f"{self.state}: {hints.get(self.state, 'not usable')}"
        thermal = self.probe.thermal
        hottest = f" ({thermal.max_temp_c:.0f} °C)" if thermal.max_temp_c is not None else ""
        from device_runners.android.app import describe_app

        return (f"{self.probe.battery.describe()}, thermal {thermal.state}{hottest}, "
                f"{describe_app(self.probe.app_version)}")


def list_phones(call_timeout_s: float = PROBE_TIMEOUT_S) -> list[AttachedPhone]:
    """Every phone the adb server lists; [] when no adb server answers."""
    host, port = adb_server_address()
    if not adb_server_reachable(host, port):
        return []
    client = adb_client(host, port, call_timeout_s)
    try:
        entries = client.list()
    except Exception as exc:  # adbutils raises its own errors and socket ones alike
        raise AndroidDeviceError(f"The adb server at {host}:{port} did not answer: {exc}") from None
    phones = []
    for entry in entries:
        if entry.state != "device":
            phones.append(AttachedPhone(entry.serial, entry.state))
            continue
        try:
            output = AdbLink(client, entry.serial, call_timeout_s).shell(PROBE_SHELL)
        except (DeviceGone, DeviceCallFailed) as exc:
            phones.append(AttachedPhone(entry.serial, "error", error=str(exc)))
            continue
        phones.append(AttachedPhone(entry.serial, entry.state, parse_probe(output.stdout)))
    return phones


def attached_devices() -> list[AttachedDevice]:
    """Every phone with its state ("battery 80% discharging, thermal none (36 °C)")."""
    from device_runners.android.setup import readiness

    ready = readiness()  # what this host can run on any phone: the same for each
    return [AttachedDevice(phone.info, phone.describe_state(), phone.label, ready) for phone in list_phones()]


def open_runner(name: str, settings: RunnerSettings, options: Mapping[str, Any]):
    """The runner for `name`: an attached serial, a catalog name ("pixel7") or a product model.

    None when `name` means no phone at all (another kind of device may know it). Raises
    NoSuchDevice for a catalog name with no such phone attached, AndroidDeviceError when
    several phones match or the one meant cannot be used. The runner is opened (battery,
    sensors and work directory checked) before it is returned.
    """
    from device_runners.android.runner import AndroidRunner

    entry = load_catalog().lookup(name)
    host, port = adb_server_address()
    if not adb_server_reachable(host, port):
        if entry is None:
            return None
        raise NoSuchDevice(name, [f"no adb server at {host}:{port} ({start_server_hint()})"])
    phone = _select(name, entry, list_phones())
    if phone is None:
        return None
    if phone.probe is None:
        raise AndroidDeviceError(f"Phone {phone.serial} is {phone.describe_state()}.")
    from device_runners.android.setup import installed_benchmark_model

    options = dict(options)
    if not options.get("benchmark_model"):  # what `harness setup android` installed, if anything
        options["benchmark_model"] = installed_benchmark_model()
    runner = AndroidRunner(AdbLink(adb_client(host, port), phone.serial), phone.probe,
                           cooldown_s=settings.cooldown_s, **options)
    runner.open()
    return runner


def _select(name: str, entry: PhoneSpec | None, phones: list[AttachedPhone]) -> AttachedPhone | None:
    by_serial = [p for p in phones if p.serial == name]
    if by_serial:
        return by_serial[0]
    if entry is not None:
        matches = [p for p in phones if p.probe and entry.matches_model(p.probe.model)]
        if not matches:
            raise NoSuchDevice(name, [p.label for p in phones])
    else:
        wanted = normalize_name(name)
        matches = [p for p in phones if p.probe and normalize_name(p.probe.model) == wanted]
        if not matches:
            return None
    if len(matches) > 1:
        serials = ", ".join(p.serial for p in matches)
        raise AmbiguousDevice(
            f"{len(matches)} attached phones match {name!r} ({serials}); pass one serial with --device."
        )
    return matches[0]
