"""Does a sustained run find what the phone did? `harness run --sustained` on a simulated phone
with a phone's physics (tests/support/phone_physics), against the model's own figures:

    time to first throttle   the harness's (its first tick with a thermal status) against the
                             model's (when its first throttling step began), both from the start
                             of the timed loop; target within 10%
    steady-state / burst     the harness's (median latency of the first 5% of the samples over
                             that of the last 20%) against the model's (the mean speed of the busy
                             core over the same stretches of time); target within 5%

The phone's heat runs --time-scale times faster than in life (10: a minute of the phone in 6 s),
so a 60 s run is ten minutes of a Pixel 7's prime core under load. Needs the adb simulator's
sandbox (unprivileged user namespaces) and this host's native runner.

    python benchmarks/sustained.py                       # about 2 minutes
    python benchmarks/sustained.py --seconds 90 --phone galaxy_s23 --cores big
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from click.testing import CliRunner  # noqa: E402

from device_runners.native.build import build_native_runner  # noqa: E402
from harness.cli import main as harness  # noqa: E402
from harness.store import Store  # noqa: E402
from tests.support.adb_sim import AdbSimServer, SimulatedPhone, sandbox_unavailable_reason  # noqa: E402
from tests.support.adb_sim.__main__ import serial_of  # noqa: E402
from tests.support.adb_sim.physics import attach_physics  # noqa: E402
from tests.support.paths import TESTS  # noqa: E402

MODEL = f"{TESTS / 'tiny_models.py'}:slow_convnet"


def model_truth(model, cpus: list[int], start: float, wall: float, first_share: float, last_share: float):
    """(first throttle, seconds from `start`; steady/burst speed) from the model's own timeline."""
    times = np.asarray(model.times)
    inside = (times >= start) & (times <= start + wall)
    steps = np.asarray(model.steps)[inside]
    t = times[inside] - start
    speed = np.asarray([min(row[c] for c in cpus) for row in model.speeds])[inside]
    throttled = np.nonzero(steps > 0)[0]
    first = float(t[throttled[0]]) if throttled.size else None
    burst = speed[t <= wall * first_share].mean()
    steady = speed[t >= wall * (1 - last_share)].mean()
    return first, float(steady / burst)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phone", default="pixel7")
    parser.add_argument("--cores", default="prime")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--time-scale", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--model", default=MODEL)
    args = parser.parse_args()
    reason = sandbox_unavailable_reason()
    if reason:
        print(f"cannot run simulated phones here: {reason}")
        return 1
    runner = build_native_runner("host")
    serial = serial_of(args.phone)
    with tempfile.TemporaryDirectory(prefix="sustained-") as tmp, \
            SimulatedPhone(serial, root=Path(tmp) / "phone") as phone, AdbSimServer([phone]) as server:
        physics = attach_physics(phone, args.phone, seed=args.seed, time_scale=args.time_scale)
        env = {**os.environ, "ANDROID_ADB_SERVER_HOST": server.host,
               "ANDROID_ADB_SERVER_PORT": str(server.port), "HARNESS_DB": str(Path(tmp) / "h.db"),
               "HARNESS_CACHE": str(Path(tmp) / "cache")}
        out = CliRunner().invoke(harness, [
            "run", "--device", serial, "--models", args.model, "--formats", "executorch",
            "--native-runner", str(runner), "--warmup", "5", "--sustained", f"{args.seconds:g}s",
            "--cores", args.cores, "--thermal-gate", "80"], env=env, catch_exceptions=False)
        if out.exit_code != 0:
            print(out.output)
            return 1
        with Store(env["HARNESS_DB"], readonly=True) as store:
            [record] = store.records(store.runs()[0].id)
        context = record.result.context
        measured = context["sustained"]
        physics.now()
        first, ratio = model_truth(physics.model, context["simulated_phone"]["cpus"],
                                   context["health_series_start_s"], context["timed_duration_s"],
                                   0.05, 0.2)
    print(f"{args.phone}, --cores {args.cores}, {args.seconds:g} s at {args.time_scale:g}x "
          f"({args.seconds * args.time_scale / 60:.1f} minutes of the phone), {measured['ticks']} ticks")
    failed = []
    if first is None:
        print(f"  the model never throttled; the harness says {measured['first_throttle_s']}")
    else:
        found = measured["first_throttle_s"]
        error = abs(found - first) / first if found is not None else float("inf")
        ok = error <= 0.10
        failed += [] if ok else ["first throttle"]
        print(f"  time to first throttle: harness {found} s, model {first:.2f} s, off by {error:.1%}"
              f"  target within 10% {'ok' if ok else 'MISSED'}")
    error = abs(measured["steady_to_burst"] - ratio) / ratio
    ok = error <= 0.05
    failed += [] if ok else ["steady-state ratio"]
    print(f"  steady-state / burst speed: harness {measured['steady_to_burst']:.3f}, model {ratio:.3f}, "
          f"off by {error:.1%}  target within 5% {'ok' if ok else 'MISSED'}")
    if measured.get("energy_burst_j") is not None:
        print(f"  energy per inference: burst {measured['energy_burst_j'] * 1e3:.3g} mJ, steady "
              f"{measured['energy_steady_j'] * 1e3:.3g} mJ")
    print("all targets met" if not failed else f"targets missed: {', '.join(failed)}")
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main())
