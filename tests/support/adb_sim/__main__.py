"""Serve simulated phones with a phone's physics until Ctrl-C, for `harness run` by hand, the farm
and benchmarks/sustained.py:

    python -m tests.support.adb_sim --phone pixel7 --phone galaxy_s23 --time-scale 10
    # then, in another shell, with the two lines it prints:
    export ANDROID_ADB_SERVER_HOST=127.0.0.1 ANDROID_ADB_SERVER_PORT=40123
    harness run --device SIMPIXEL7 --models repvit_m0_9 --formats executorch \\
        --native-runner device_runners/native/build/host/harness_runner --cores prime

The phones run this host's build of the native runner where a phone runs the Android one
(`harness build-runner --target host` builds it); what it measures is scaled to the modelled
cores (physics.py). Profiles: tests/support/phone_physics/profiles.yaml.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import threading
from contextlib import ExitStack
from pathlib import Path

from tests.support.phone_physics import load_profiles

from .phone import SimulatedPhone
from .physics import attach_physics
from .sandbox import sandbox_unavailable_reason
from .server import AdbSimServer


def serial_of(profile_key: str) -> str:
    return "SIM" + profile_key.replace("_", "").upper()


def main(argv: list[str] | None = None) -> int:
    android = sorted(k for k, p in load_profiles().items() if p.platform == "android")
    parser = argparse.ArgumentParser(prog="python -m tests.support.adb_sim",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--phone", action="append", choices=android,
                        help="a phone profile (repeat for several); default pixel7")
    parser.add_argument("--seed", type=int, default=0, help="sessions, bursts, the governor's wander")
    parser.add_argument("--time-scale", type=float, default=1.0,
                        help="heat this many times faster than in life (10: a minute in 6 s)")
    parser.add_argument("--rooted", action="store_true", help="give the phones `su`")
    parser.add_argument("--charging", action="store_true", help="start on the charger")
    parser.add_argument("--port", type=int, default=0, help="the adb server's port [any free one]")
    parser.add_argument("--root", type=Path, help="keep the phones' files here [a temporary directory]")
    parser.add_argument("--ready-file", type=Path, help="write the two export lines here when serving")
    args = parser.parse_args(argv)
    reason = sandbox_unavailable_reason()
    if reason:
        print(f"Cannot run simulated phones here: {reason}", file=sys.stderr)
        return 1
    profiles = args.phone or ["pixel7"]
    root = args.root or Path(tempfile.mkdtemp(prefix="adb_sim_"))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with ExitStack() as stack:
        phones = []
        for key in profiles:
            phone = stack.enter_context(SimulatedPhone(serial_of(key), root=root / serial_of(key)))
            physics = attach_physics(phone, key, seed=args.seed, time_scale=args.time_scale,
                                     rooted=args.rooted)
            if args.charging:
                physics.set_charging(True)
            phones.append(phone)
        server = stack.enter_context(AdbSimServer(phones, port=args.port))
        lines = (f"export ANDROID_ADB_SERVER_HOST={server.host} ANDROID_ADB_SERVER_PORT={server.port}\n"
                 f"# phones: {', '.join(p.serial for p in phones)} (files under {root})\n")
        print(lines, end="", flush=True)
        if args.ready_file:
            args.ready_file.write_text(lines)
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
