"""What each tool's structured file must hold for its reader, as JSON schemas, checked before the
reader runs: a field the reader uses has the type it expects, wherever it is, so a hostile or
broken file (runners as a string, a backend as a number, a model name as a list) is one line
naming the file, the place and what was expected, and never an exception inside a reader.

The schemas constrain only what the readers use and leave every other field free: the tools add
fields release by release (tests/data/real holds files the tools wrote; all of them pass). Before
a schema, `harness.data_shape.check_shape` has bounded the data's depth and size, made sure every
key is text and every number finite.
"""

from __future__ import annotations

from pathlib import Path

from harness.results_io.cells import ImportFileError

TEXT = {"type": "string"}
NAME = {"type": "string", "minLength": 1}
MAYBE_TEXT = {"type": ["string", "null"]}
NUMBER = {"type": "number"}
FIGURE = {"type": "number", "minimum": 0}  # a time or a memory figure
MAYBE_NUMBER = {"type": ["number", "null"]}
MAYBE_COUNT = {"type": ["integer", "null"], "minimum": 0}
# extra_info: the v3 table's Map(String, String), which files fill with numbers and flags too.
EXTRA = {"type": ["object", "null"],
         "additionalProperties": {"type": ["string", "number", "boolean", "null"]}}


def _maybe(schema: dict) -> dict:
    """`schema`, or null (a reader reads `x.get(...) or {}`)."""
    return {"anyOf": [{"type": "null"}, schema]}


def _map(values: dict) -> dict:
    return {"type": "object", "additionalProperties": values}


V3_RECORD = {
    "type": "object",
    "required": ["benchmark", "model", "metric"],
    "properties": {
        "benchmark": {"type": "object", "properties": {
            "name": MAYBE_TEXT, "mode": MAYBE_TEXT, "dtype": MAYBE_TEXT, "extra_info": EXTRA}},
        "model": {"type": "object", "required": ["name"], "properties": {
            "name": NAME, "type": MAYBE_TEXT, "backend": MAYBE_TEXT, "extra_info": EXTRA}},
        "metric": {"type": "object", "required": ["name", "benchmark_values"], "properties": {
            "name": NAME, "benchmark_values": {"anyOf": [FIGURE, {"type": "array", "items": FIGURE}]},
            "target_value": MAYBE_NUMBER, "extra_info": EXTRA}},
        "runners": _maybe({"type": "array", "items": _maybe({"type": "object", "properties": {
            "name": MAYBE_TEXT, "type": MAYBE_TEXT, "cpu_info": MAYBE_TEXT, "cpu_count": MAYBE_COUNT,
            "extra_info": EXTRA}})}),
    },
}

EXECUTORCH = {"type": "array", "items": {
    "type": "object",
    "required": ["benchmarkModel", "metric", "actualValue"],
    "properties": {
        "benchmarkModel": {"type": "object", "required": ["name"], "properties": {
            "name": NAME, "backend": MAYBE_TEXT, "quantization": MAYBE_TEXT}},
        "metric": NAME, "actualValue": FIGURE,
        "deviceInfo": _maybe({"type": "object", "properties": {
            "device": MAYBE_TEXT, "os": MAYBE_TEXT, "arch": MAYBE_TEXT}}),
    },
}}

XCRESULT = {"type": "array", "items": {"type": "object", "properties": {
    "testIdentifier": MAYBE_TEXT,
    "testRuns": _maybe({"type": "array", "items": {"type": "object", "properties": {
        "device": _maybe({"type": "object", "properties": {"deviceName": MAYBE_TEXT,
                                                           "deviceId": MAYBE_TEXT}}),
        "testPlanConfiguration": _maybe({"type": "object", "properties": {
            "configurationName": MAYBE_TEXT}}),
        "metrics": _maybe({"type": "array", "items": {"type": "object", "properties": {
            "displayName": MAYBE_TEXT, "identifier": MAYBE_TEXT, "unitOfMeasurement": MAYBE_TEXT,
            "measurements": _maybe({"type": "array", "items": FIGURE})}}}),
    }}}),
}}}

_LAYERS = _maybe(_map({"type": ["integer", "null"], "minimum": 0}))
_AIHUB_PERF = _maybe({"type": "object", "properties": {
    "inference_time_milliseconds": {"type": ["number", "null"], "minimum": 0},
    "estimated_peak_memory_range_mb": _maybe({"type": "object", "required": ["min", "max"],
                                               "properties": {"min": FIGURE, "max": FIGURE}}),
    "primary_compute_unit": MAYBE_TEXT, "layer_counts": _LAYERS, "job_status": MAYBE_TEXT,
    "job_id": MAYBE_TEXT, "tool_versions": _maybe(_map({"type": ["string", "number", "null"]})),
}})
_AIHUB_OLD_PERF = {"type": "object", "properties": {
    "inference_time": {"anyOf": [FIGURE, {"type": "null"}, {"const": "null"}]},
    "estimated_peak_memory_range": _maybe({"type": "object", "required": ["min", "max"],
                                            "properties": {"min": FIGURE, "max": FIGURE}}),
    "primary_compute_unit": MAYBE_TEXT, "precision": MAYBE_TEXT, "job_status": MAYBE_TEXT,
    "job_id": MAYBE_TEXT, "layer_info": _LAYERS,
    "tool_versions": _maybe(_map({"type": ["string", "number", "null"]})),
}}
AIHUB = {"type": "object", "properties": {
    "precisions": _maybe(_map(_maybe({"type": "object", "properties": {
        "components": _maybe(_map(_maybe({"type": "object", "properties": {
            "performance_metrics": _maybe(_map(_maybe(_map(_AIHUB_PERF)))),
        }}))),
    }}))),
    "models": {"type": "array", "items": {"type": "object", "properties": {
        "name": MAYBE_TEXT,
        "performance_metrics": _maybe({"type": "array", "items": {
            "type": "object",
            "required": ["reference_device_info"],
            "properties": {"reference_device_info": {"type": "object", "required": ["name"],
                                                     "properties": {"name": NAME,
                                                                    "os_name": MAYBE_TEXT,
                                                                    "chipset": MAYBE_TEXT}},
                           "timestamp": {}},
            "additionalProperties": {"anyOf": [_AIHUB_OLD_PERF, {"not": {"type": "object"}}]},
        }}),
    }}},
}}

# A tool's summary as the harness exports it (metric.extra_info.tool_summary of its own v3
# records: harness.store.ToolSummary's fields, as JSON text).
TOOL_SUMMARY = {"type": "object", "required": ["tool", "statistic", "value_ms"], "properties": {
    "tool": TEXT, "statistic": TEXT, "value_ms": NUMBER, "n": MAYBE_COUNT, "note": MAYBE_TEXT,
    **{f"{k}_ms": MAYBE_NUMBER for k in ("mean", "std", "min", "max", "median", "first", "curr")},
    "percentiles_ms": _maybe(_map(NUMBER)), "other_ms": _maybe(_map(NUMBER))}}

SCHEMAS = {"v3": {"anyOf": [V3_RECORD, {"type": "array", "items": V3_RECORD}]},
           "executorch": EXECUTORCH, "xcresult": XCRESULT, "aihub": AIHUB,
           "tool_summary": TOOL_SUMMARY}

_TYPES = {"string": "text", "number": "a number", "integer": "a whole number", "array": "a list",
          "object": "a mapping", "null": "null", "boolean": "true or false"}


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _expected(error) -> str:
    """What the schema wanted where `error` is, in words."""
    if error.validator == "type":
        kinds = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
        wanted = " or ".join(_TYPES.get(k, k) for k in kinds if k != "null")
        return f"{wanted or 'null'}, not {_short(error.instance)}"
    if error.validator == "required":
        missing = [k for k in error.validator_value if k not in (error.instance or {})]
        return f"{', '.join(missing) or 'its fields'} to be given"
    if error.validator == "minLength":
        return "a name, not an empty text"
    if error.validator == "minimum":
        return f"a number of at least {error.validator_value}, not {_short(error.instance)}"
    return f"another value than {_short(error.instance)} ({error.message})"


def _deepest(error):
    """Of the alternatives an anyOf tried, the error that got furthest into the value (and not
    the one saying it is not null, when the value may be null or something else)."""
    while error.context:
        error = max(error.context, key=lambda e: (len(e.absolute_path),
                                                  not (e.validator == "type" and e.validator_value == "null"),
                                                  -len(e.schema_path)))
    return error


def check_tool_data(path: Path, tool: str, data, at: str = "") -> None:
    """ImportFileError at the first place where `data` is not what `tool`'s reader reads (`at`:
    where `data` itself is, when it is part of the file)."""
    import jsonschema

    from harness.data_shape import key_path

    schema = SCHEMAS.get(tool)
    if schema is None:
        return
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(data))
    if error is None:
        return
    error = _deepest(error)
    where = key_path(error.absolute_path)
    raise ImportFileError(path, None, _expected(error),
                          at=" ".join(x for x in (at, where) if x) or "the top level")
