"""A measurement made on this host, rescaled to the modelled phone: every duration divided by
the speed the model gives the cores at that moment and by the process's session offset.

The timeline is rebuilt from the result itself: the process started at `started` (host monotonic
seconds), then loaded the model, ran the first inference, the warm-up and the timed iterations
back to back; each duration is taken at its middle. The host's core stands for the phone's
fastest core at its top frequency (speed 1).
"""

from __future__ import annotations


def scale_result(model, result: dict, cpus: list[int], started: float, profile_key: str) -> dict:
    """`result` (a RunResult's dict) with its durations scaled; the model advanced past the end."""
    import time

    model.advance(time.monotonic())  # once: every duration below is in the past
    session = model.session_factor(model._inputs.sessions_before(started))
    clock = started
    speeds = []

    def scaled(ms):
        nonlocal clock
        if ms is None:
            return None
        middle = clock + ms / 2000.0
        clock += ms / 1000.0
        speed = model.speed(middle, cpus) * session
        speeds.append(speed)
        return ms / speed

    result = dict(result)
    result["load_ms"] = scaled(result.get("load_ms"))
    result["first_inference_ms"] = scaled(result.get("first_inference_ms"))
    result["warmup_samples_ms"] = [scaled(v) for v in result.get("warmup_samples_ms") or []]
    result["samples_ms"] = [scaled(v) for v in result.get("samples_ms") or []]
    result["context"] = {**(result.get("context") or {}), "simulated_phone": {
        "profile": profile_key, "cpus": cpus, "session_factor": round(session, 5),
        "mean_speed": round(sum(speeds) / len(speeds), 5) if speeds else None,
        "note": "durations measured on the host, divided by the modelled cores' speed"}}
    return result
