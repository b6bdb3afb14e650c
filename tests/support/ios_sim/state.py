"""The simulated iPhones' state on disk, shared by the tool stand-ins (separate processes).

    <root>/phones.json                     every phone and its settings (Phone)
    <root>/containers/<udid>/<bundle>/     an app's data container (Documents/ inside)
    <root>/commands.jsonl                  every command a stand-in tool ran, in order
    <root>/app-<udid>.pid                  the stand-in app running on a phone, if any
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

BIN = Path(__file__).with_name("bin")
ROOT = Path(__file__).resolve().parents[3]
BUNDLE = "org.harnessbench.HarnessBench"


@dataclass
class Phone:
    udid: str
    product_type: str = "iPhone13,2"
    name: str = "Test iPhone"
    os_version: str = "17.5.1"
    connection: str = "usb"  # usb, wifi
    paired: bool = True
    developer_mode: bool = True
    locked: bool = False
    tunnel: bool = True  # the developer tunnel (iOS 17+) is up
    charging: bool = False
    battery_level: float = 0.8
    battery_temp_c: float = 29.5
    thermal_state: str = "nominal"
    idle_current_ma: float = -310.0  # signed, negative while discharging
    busy_current_ma: float = -920.0  # while the app runs
    voltage_mv: float = 3910.0
    runtimes: dict = field(default_factory=lambda: {"coreml": "iOS 17.5", "executorch": "1.5.1",
                                                    "litert": "2.3.0"})
    installed: list = field(default_factory=lambda: [BUNDLE])
    # Delegates the app reports beyond each runtime's default; the stand-in app cannot use
    # LiteRT's Core ML delegate, so a phone listing it gets an unsupported tflite@coreml cell.
    litert_delegates: list = field(default_factory=list)
    device_type: str = "iPhone"  # devicectl's deviceType: iPhone, iPad
    marketing_name: str = "iPhone"
    boot_state: str = "booted"
    ddi_services: bool = True  # the developer disk image is mounted (once connected)
    app_crashes: bool = False  # the launched app exits at once, writing nothing
    # A phone's physics (tests/support/ios_sim/physics.py): a profile of phone_physics, e.g.
    # "iphone12"; then thermal state, battery and the app's timings follow the model.
    physics: str = ""
    physics_seed: int = 0
    physics_time_scale: float = 1.0
    physics_boot: float = 0.0  # host monotonic seconds when the phone was added


class State:
    def __init__(self, root: str | Path):
        self.root = Path(root)

    @classmethod
    def from_env(cls) -> "State":
        return cls(os.environ["IOS_SIM_ROOT"])

    def phones(self) -> list[Phone]:
        path = self.root / "phones.json"
        return [Phone(**p) for p in json.loads(path.read_text())] if path.exists() else []

    def save(self, phones: list[Phone]) -> None:
        tmp = self.root / ".phones.json.tmp"
        tmp.write_text(json.dumps([dataclasses.asdict(p) for p in phones], indent=1))
        os.replace(tmp, self.root / "phones.json")

    def phone(self, udid: str) -> Phone | None:
        return next((p for p in self.phones() if p.udid == udid or p.name == udid), None)

    def update(self, udid: str, **changes) -> None:
        self.save([dataclasses.replace(p, **changes) if p.udid == udid else p for p in self.phones()])

    def container(self, udid: str, bundle: str) -> Path:
        path = self.root / "containers" / udid / bundle
        (path / "Documents").mkdir(parents=True, exist_ok=True)
        return path

    def log(self, tool: str, argv: list[str]) -> None:
        with open(self.root / "commands.jsonl", "a") as f:
            f.write(json.dumps({"tool": tool, "argv": argv, "t": time.time()}) + "\n")

    def app_pid_file(self, udid: str) -> Path:
        return self.root / f"app-{udid}.pid"

    def app_running(self, udid: str) -> bool:
        try:
            pid = int(self.app_pid_file(udid).read_text())
            os.kill(pid, 0)
        except (OSError, ValueError):
            return False
        return True


class IosSim:
    """Simulated iPhones for one test: the stand-in tools first on PATH, state under `root`."""

    def __init__(self, root: str | Path, battery_interval_s: float = 0.2):
        self.state = State(Path(root))
        self.state.root.mkdir(parents=True, exist_ok=True)
        self.battery_interval_s = battery_interval_s
        self._saved: dict[str, str | None] = {}

    def env(self) -> dict[str, str]:
        return {
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "IOS_SIM_ROOT": str(self.state.root),
            "IOS_SIM_PYTHON": sys.executable,
            "IOS_SIM_BATTERY_INTERVAL": str(self.battery_interval_s),
            "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p),
        }

    def __enter__(self) -> "IosSim":
        for key, value in self.env().items():
            self._saved[key] = os.environ.get(key)
            os.environ[key] = value
        return self

    def __exit__(self, *exc) -> None:
        for udid in [p.udid for p in self.state.phones()]:
            self.stop_app(udid)
        for key, value in self._saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    def add_phone(self, udid: str, **settings) -> Phone:
        if settings.get("physics"):
            settings.setdefault("physics_boot", time.monotonic())
        phone = Phone(udid=udid, **settings)
        self.state.save([p for p in self.state.phones() if p.udid != udid] + [phone])
        self.state.container(udid, BUNDLE)
        return phone

    def set(self, udid: str, **changes) -> None:
        self.state.update(udid, **changes)

    def documents(self, udid: str, bundle: str = BUNDLE) -> Path:
        return self.state.container(udid, bundle) / "Documents"

    def physics_log(self, udid: str, **entry) -> None:
        """A change for a phone's physics from now on: charging=True, ambient_c=35.0."""
        from .physics import log

        log(self.state, udid, entry)

    def commands(self, tool: str | None = None) -> list[list[str]]:
        path = self.state.root / "commands.jsonl"
        if not path.exists():
            return []
        entries = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        return [e["argv"] for e in entries if tool is None or e["tool"] == tool]

    def stop_app(self, udid: str) -> None:
        import signal

        try:
            os.kill(int(self.state.app_pid_file(udid).read_text()), signal.SIGKILL)
        except (OSError, ValueError):
            pass
