"""The warm-up and timing loops of device_runners/timing.py on a fake clock, as the benchmark apps'
loops must reproduce them sample for sample.

Each case is a request and the time each inference takes; `timing_py_loops` runs timing.py itself
on a clock that moves only when an inference runs and returns its warm-up samples, whether the
warm-up settled (None when warming up by count) and its timed samples. tests/test_android_app.py
runs the Kotlin loops on the same cases; the Swift core, which cannot run here, replays
ios_app/HarnessCore/Tests/HarnessCoreTests/Fixtures/loops.json, which tests/test_ios_app.py keeps
equal to what this module computes. After changing timing.py or the cases:

    python -m tests.support.loop_cases        # rewrites the Swift fixture
"""

from __future__ import annotations

import json
from unittest import mock

from device_runners import timing
from device_runners.contract import RunRequest
from tests.support.paths import ROOT

SWIFT_FIXTURE = ROOT / "ios_app" / "HarnessCore" / "Tests" / "HarnessCoreTests" / "Fixtures" / "loops.json"

LOOP_CASES = {
    "count": (dict(warmup_iterations=3, min_iterations=5, min_duration_s=0.2), [10.0, 12.0, 9.0, 11.0]),
    "max_iterations": (dict(warmup_iterations=0, min_iterations=10, min_duration_s=5.0, max_iterations=12), [1.0]),
    "max_duration": (dict(warmup_iterations=1, min_iterations=1000, min_duration_s=0.0, max_duration_s=0.1), [10.0]),
    "settles": (dict(warmup_iterations=0, warmup_until_settled=True, min_iterations=3),
                [10.0, 9.0, 8.0, 7.0, 6.0] + [2.0] * 100),
    "never_settles": (dict(warmup_iterations=5, warmup_until_settled=True, min_iterations=3, max_duration_s=4.0),
                      [10.0 * 1.05 ** i for i in range(400)]),
}


def loop_request(fields: dict) -> RunRequest:
    return RunRequest(model="m", format="executorch", runtime="executorch", artifact_path="x",
                      artifact_sha256="", input_shape=(1,), **fields)


def timing_py_loops(request: RunRequest, durations: list[float]) -> dict:
    """What timing.py measures when inference i takes durations[i] ms (the last repeats), on a
    clock that moves only then: {"warmup_ms", "settled", "samples_ms"}."""
    now = [0]
    calls = [0]

    def run_once():
        now[0] += int(round(durations[min(calls[0], len(durations) - 1)] * 1e6))
        calls[0] += 1

    with mock.patch.object(timing.time, "perf_counter_ns", lambda: now[0]):
        settled = None
        if request.warmup_until_settled:
            warmup, settled = timing.run_warmup_until_settled(
                run_once, request.warmup_iterations, request.max_iterations,
                max_s=min(timing.SETTLE_MAX_S, request.max_duration_s))
        else:
            warmup = timing.run_warmup(run_once, request.warmup_iterations)
        samples = timing.run_timed(run_once, request)
    return {"warmup_ms": warmup, "settled": settled, "samples_ms": samples}


def case_durations(name: str) -> list[float]:
    return [round(d, 3) for d in LOOP_CASES[name][1]]  # whole nanoseconds on every clock


def swift_fixture() -> dict:
    """The Swift core's fixture: every case, with timing.py's answer."""
    cases = []
    for name in sorted(LOOP_CASES):
        request = loop_request(LOOP_CASES[name][0])
        durations = case_durations(name)
        cases.append({"name": name, "request": request.to_dict(), "durations_ms": durations,
                      **timing_py_loops(request, durations)})
    return {"written_by": "tests/support/loop_cases.py from device_runners/timing.py; do not edit", "cases": cases}


def fixture_text() -> str:
    """The fixture as written: one case a line, so a change to timing.py shows as whole cases."""
    fixture = swift_fixture()
    cases = ",\n".join(json.dumps(case) for case in fixture["cases"])
    return f'{{"written_by": {json.dumps(fixture["written_by"])}, "cases": [\n{cases}\n]}}\n'


if __name__ == "__main__":
    SWIFT_FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    SWIFT_FIXTURE.write_text(fixture_text())
    print(f"wrote {SWIFT_FIXTURE.relative_to(ROOT)}")
