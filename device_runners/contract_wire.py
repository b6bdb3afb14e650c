"""The contract on the wire: requests and results as strict JSON, validated against
`contract.schema.json` (device_runners/contract.py holds the objects and the version history).

JSON is strict both ways: NaN and infinity have no JSON spelling, other runners' parsers refuse
Python's NaN/Infinity tokens, and a NaN sample would sort and average as nonsense, so they are
refused both ways with the place named. The schema's validator is built once per process.
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path

from device_runners.errors import DeviceError

SCHEMA_PATH = Path(__file__).with_name("contract.schema.json")


class ContractError(DeviceError):
    """A request or result does not keep the contract.

    `detail` is what is wrong without naming the object ("timed sample 3 is NaN"), for a
    message that names it already ("the native runner's result is invalid: ...").
    """

    def __init__(self, message: str, detail: str = ""):
        super().__init__(message)
        self.detail = detail or message


@lru_cache(maxsize=1)
def schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text())


def wire_types(document: dict | None = None) -> list[str]:
    """The object $defs that travel between harness and runner: RunRequest, RunResult and what
    they reference. ResultContext is not among them: context stays an open map on the wire (a
    runner adds keys of its own), and the harness checks the keys it reads separately.
    The generated Kotlin and Swift contracts cover exactly these."""
    defs = (document or schema())["$defs"]
    seen: list[str] = []
    todo = ["RunRequest", "RunResult"]
    while todo:
        name = todo.pop(0)
        if name in seen:
            continue
        seen.append(name)
        for ref in _refs(defs[name]):
            todo.append(ref.rsplit("/", 1)[-1])
    return [name for name in seen if defs[name].get("type") == "object"]


def _refs(spec) -> list[str]:
    if isinstance(spec, dict):
        found = [spec["$ref"]] if isinstance(spec.get("$ref"), str) else []
        return found + [ref for value in spec.values() for ref in _refs(value)]
    if isinstance(spec, list):
        return [ref for value in spec for ref in _refs(value)]
    return []


@lru_cache(maxsize=None)
def _validator(kind: str):
    """A checked validator for the definition `kind`, built once per process: building one
    (what jsonschema.validate does on every call) costs a tenth of a second, and a run
    validates every request and result."""
    import jsonschema

    rooted = dict(schema())
    rooted["$ref"] = f"#/$defs/{kind}"
    cls = jsonschema.validators.validator_for(rooted)
    cls.check_schema(rooted)
    return cls(rooted)


_SAMPLE_ARRAYS = ("samples_ms", "warmup_samples_ms")


def _without_samples(data: dict) -> dict:
    """`data` with its sample arrays cut to their first sample when every sample is a number
    >= 0, as the schema asks (one is kept for the rules on non-empty arrays): jsonschema walks
    a list in Python, a tenth of a second per ten thousand samples, and a sustained trial holds
    millions. Anything else keeps the arrays for jsonschema to judge."""
    if not isinstance(data, dict):
        return data
    lean = dict(data)
    for key in _SAMPLE_ARRAYS:
        values = data.get(key)
        if isinstance(values, list) and all(type(v) in (int, float) and v >= 0 for v in values):
            lean[key] = values[:1]
    return lean


def validate(kind: str, data: dict) -> None:
    """Validate `data` against the schema's definition `kind` ("RunRequest" or "RunResult")."""
    import jsonschema

    try:
        # The error jsonschema.validate would raise: the best match among all of them.
        error = jsonschema.exceptions.best_match(_validator(kind).iter_errors(_without_samples(data)))
        if error is not None:  # said about the whole result, samples and all
            error = jsonschema.exceptions.best_match(_validator(kind).iter_errors(data))
        if error is not None:
            raise error
    except jsonschema.ValidationError as exc:
        where = describe_path(tuple(exc.absolute_path))
        what = exc.message
        if exc.instance is None and exc.validator == "type" and "number" in exc.validator_value:
            what = "null is not a number (a runner that writes NaN or infinity as null?)"
        raise ContractError(f"{kind} is invalid at {where}: {what}", f"{where}: {what}") from None


# ----------------------------------------------------------------------------------------------
# Strict JSON: NaN and infinity have no JSON spelling. Python writes and reads them as the tokens
# NaN/Infinity by default; other runners' parsers refuse those, and a NaN sample would sort and
# average as nonsense. So they are refused both ways, with the place named.


def describe_path(path: tuple) -> str:
    """A place in a request or result as a user reads it: "timed sample 3", "energy/avg_power_w"."""
    series = {"samples_ms": "timed sample", "warmup_samples_ms": "warm-up sample"}
    if len(path) == 2 and path[0] in series and isinstance(path[1], int):
        return f"{series[path[0]]} {path[1] + 1}"
    return "/".join(str(p) for p in path) or "(top level)"


def is_finite(value) -> bool:
    return isinstance(value, int) or math.isfinite(value)  # ints: any size, never NaN


def _first_non_finite(data, path: tuple = ()) -> tuple[tuple, float] | None:
    """The path and value of the first NaN or infinity in `data` (dicts, lists, tuples), if any."""
    if isinstance(data, float) and not is_finite(data):
        return path, data
    if isinstance(data, dict):
        items = data.items()
    else:
        items = enumerate(data) if isinstance(data, (list, tuple)) else ()
    for key, value in items:
        found = _first_non_finite(value, (*path, key))
        if found is not None:
            return found
    return None


def show_number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    return "infinite" if value > 0 else "minus infinity"


def _refuse_constant(token: str):
    raise ContractError(f"{token} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not is_finite(value):
        raise ContractError(f"{text} is beyond a double's range")
    return value


def loads(kind: str, text: str) -> dict:
    """`text` parsed as strict JSON; raises ContractError naming where a NaN or infinity is."""
    try:
        return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except ContractError:
        found = _first_non_finite(json.loads(text))  # parsed again leniently, to say where
        where, value = found if found is not None else ((), math.nan)
        detail = f"{describe_path(where)} is {show_number(value)}, which JSON cannot hold"
        raise ContractError(f"{kind} is invalid: {detail}", detail) from None
    except ValueError as exc:  # json.JSONDecodeError
        raise ContractError(f"{kind} is not JSON: {exc}", f"not JSON ({exc})") from None


def dumps(kind: str, data: dict) -> str:
    """`data` as strict JSON; raises ContractError naming where a NaN or infinity is."""
    try:
        return json.dumps(data, allow_nan=False)
    except ValueError:
        found = _first_non_finite(data)
        if found is None:
            raise
        where, value = found
        detail = f"{describe_path(where)} is {show_number(value)}, which JSON cannot hold"
        raise ContractError(f"{kind} cannot be written as JSON: {detail}", detail) from None
