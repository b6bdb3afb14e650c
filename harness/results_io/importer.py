"""`harness results import FILE`: which tool wrote a file, its cells matched to the zoo, and the
cells stored as runs.

The file is read and every cell built before anything is written, so a file that does not parse
stores nothing (ImportFileError: one line naming the file, the line where known, and what was
expected). Each device the file names becomes one run (a run has one device), begun and finished
through the Store's public API like any other: its config holds no `bench` settings (the harness
chose none) but `imported` = {tool, file, sha256, samples}, which every report shows as the
record's origin (harness.report.figures.origin_text), and its argv is the import command. A file
that names no device, imported without `--device`, gets a device of its own, named after the
file and its content (`file_device`): two unrelated files are never one phone in `compare` or on
the site.

A model name matches the zoo when it is a zoo name once case, punctuation and a file suffix are
set aside (`RepViT-M1.0`, `repvit_m1_0.tflite` -> `repvit_m1_0`); the record then joins that
model's row with the zoo's facts. Any other name is kept as the file gives it.

What a record holds (docs/results-io.md): samples where the tool kept every iteration; else the
tool's own summary in `result.context["tool_summary"]` (harness.store.ToolSummary) and no
samples; memory alone for a tool that measured only memory; `context["imported"]["threads"]`
the file's thread count or None, read by the reports instead of the result's `threads` (which
the contract requires to be a number, and is 1 when the file says nothing).
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import re
from pathlib import Path

from device_runners.contract import DeviceInfo, RunResult
from harness.data_shape import ShapeProblem, check_shape
from harness.errors import HarnessError
from harness.results_io import aihub, benchmark_model, executorch_app, hud_v3, xctest
from harness.results_io.cells import UNNAMED_KIND, ImportedCell, ImportFileError, ImportLimits
from harness.results_io.json_text import load_json, load_yaml
from harness.results_io.schemas import check_tool_data

# The tools a file can come from: --from NAME, or detected from the content.
TOOLS = {
    "benchmark_model": "TFLite benchmark_model log",
    "executorch": "ExecuTorch benchmark app benchmark_results.json",
    "v3": "PyTorch benchmark database v3 records",
    "aihub": "Qualcomm AI Hub perf.yaml",
    "xctest": "XCTest performance log",
    "xcresult": "xcresulttool test-results metrics JSON",
}
MAX_BYTES = 64 * 1024 * 1024  # larger than any of these tools writes: refuse, do not swallow
# A document holds at most one value per character; more is YAML aliases repeating others (an
# alias bomb), refused before anything is built from them.
MIN_VALUES = 100_000


def _bytes(path: Path) -> bytes:
    if not path.is_file():
        raise HarnessError(f"{path}: no such file; give the path of a results file to import.")
    if path.stat().st_size > MAX_BYTES:
        raise ImportFileError(path, None, f"a results file under {MAX_BYTES // 2**20} MB")
    return path.read_bytes()


def _text(path: Path, data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise ImportFileError(path, line, "UTF-8 text") from None


def file_device(path: Path, sha256: str, platform: str | None = None) -> DeviceInfo:
    """The device of a file that names none: its own, named after the file and its content."""
    return DeviceInfo(device_id=f"unnamed-{sha256[:12]}", platform=platform or "unknown",
                      product_model=f"unnamed device of {path.name}", kind=UNNAMED_KIND)


def _shaped(path: Path, text: str, data):
    """`data` once its shape is one a reader can walk (harness.data_shape)."""
    try:
        check_shape(data, max_values=max(MIN_VALUES, len(text)))
    except ShapeProblem as problem:
        raise ImportFileError(path, None, problem.expected, at=problem.where or "the top level") from None
    return data


def detect(path: Path, text: str) -> tuple[str, object]:
    """(tool, parsed content) of a file, its content checked against what that tool's reader
    reads (harness.results_io.schemas); ImportFileError when it is none of TOOLS, or not what
    its reader reads."""
    stripped = text.lstrip()
    if stripped.startswith(("[", "{")):
        data = _shaped(path, text, load_json(path, text))
        for tool, test in (("executorch", executorch_app.is_executorch_results),
                           ("xcresult", xctest.is_xcresult_metrics),
                           ("v3", hud_v3.is_v3_records), ("aihub", aihub.is_aihub_perf)):
            if test(data):
                check_tool_data(path, tool, data)
                return tool, data
        raise ImportFileError(path, 1, "ExecuTorch's benchmark_results.json (a list of "
                              "BenchmarkMetric), v3 records ({benchmark, model, metric, runners}: "
                              "one, a list, or one per line) or xcresulttool's test-results "
                              "metrics (a list of {testIdentifier, testRuns})")
    if xctest.is_xctest_log(text):
        return "xctest", text
    if benchmark_model.is_benchmark_model_log(text):
        return "benchmark_model", text
    if path.suffix.lower() in (".yaml", ".yml") or stripped.startswith(("models:", "precisions:",
                                                                        "supported_")):
        data = _shaped(path, text, load_yaml(path, text))
        if aihub.is_aihub_perf(data):
            check_tool_data(path, "aihub", data)
            return "aihub", data
        raise ImportFileError(path, 1, "AI Hub's perf.yaml (`precisions:` or `models:` with "
                              "performance_metrics)")
    raise ImportFileError(path, None, "one of: " + "; ".join(TOOLS.values()))


def read_cells(path: Path, device: DeviceInfo | None = None, tool: str | None = None,
               fmt: str | None = None, model: str | None = None, runtime: str | None = None,
               platform: str | None = None, limits: ImportLimits | None = None
               ) -> tuple[str, list[ImportedCell]]:
    """(tool, cells) of a file; nothing is written. `device`: the device the measurements were
    made on when the file names none (default: one of the file's own, `file_device`). Every
    cell's figures are checked, and the cells and samples counted against `limits` (default
    ImportLimits()), here."""
    path = Path(path)
    limits = limits or ImportLimits()
    data = _bytes(path)
    text = _text(path, data)
    device = device or file_device(path, hashlib.sha256(data).hexdigest(), platform)
    found, content = detect(path, text)
    if tool and tool != found:
        raise ImportFileError(path, None, f"a {TOOLS[tool]} (it reads as a {TOOLS[found]})")
    try:
        cells = _read(path, found, content, device, fmt, model, runtime, limits)
    except ImportFileError:
        raise
    except (KeyError, TypeError, AttributeError, ValueError, IndexError, ArithmeticError) as exc:
        # What the schemas did not foresee: still one line, and nothing stored.
        detail = " ".join(str(exc).split())[:80]
        raise ImportFileError(path, None, f"a {TOOLS[found]} the harness can read (reading it "
                              f"failed: {type(exc).__name__}: {detail})") from None
    if not cells:
        raise ImportFileError(path, None, f"at least one measurement in this {TOOLS[found]}")
    if fmt and found not in ("xctest", "xcresult"):
        cells = [dataclasses.replace(c, format=fmt) for c in cells]
    if runtime and found not in ("xctest", "xcresult"):
        cells = [dataclasses.replace(c, runtime=runtime) for c in cells]
    _check_cells(path, cells, limits)
    return found, cells


def _read(path, found, content, device, fmt, model, runtime, limits) -> list[ImportedCell]:
    if found == "benchmark_model":
        return benchmark_model.read_benchmark_model(path, content, device, model)
    if found == "xctest":  # text, and the one format a file of many tests makes big: stops early
        return xctest.read_xctest(path, content, device, fmt, runtime, max_cells=limits.cells)
    if found == "xcresult":
        return xctest.read_xcresult_metrics(path, content, device, fmt, runtime)
    if found == "executorch":
        return executorch_app.read_executorch(path, content, device)
    if found == "v3":
        return hud_v3.read_v3(path, content, device)
    return aihub.read_aihub(path, content)


def _bad_figure(value, integer: bool = False) -> bool:
    if value is None:
        return False
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return True
    return not math.isfinite(value) or value < 0 or (integer and value != int(value))


def _check_cells(path: Path, cells: list[ImportedCell], limits: ImportLimits) -> None:
    """Every figure finite and non-negative, and the import within `limits`: checked before
    the first run begins, so a bad file stores nothing."""
    if len(cells) > limits.cells:
        raise ImportFileError(path, None, f"at most {limits.cells:,} cells, not {len(cells):,} "
                              f"(--max-cells {len(cells)} imports them all)")
    samples = sum(len(c.samples_ms) for c in cells)
    if samples > limits.samples:
        raise ImportFileError(path, None, f"at most {limits.samples:,} samples in all, not "
                              f"{samples:,} (--max-samples {samples} imports them all)")
    for cell in cells:
        at = f"{str(cell.model)[:60]} / {cell.format}"
        figures = [("a sample", v) for v in cell.samples_ms]
        figures += [(name, getattr(cell, name)) for name in ("load_ms", "first_inference_ms")]
        summary = cell.summary or {}
        figures += [(f"the tool's {k}", v) for k, v in summary.items() if k.endswith("_ms")
                    and not isinstance(v, dict)]
        figures += [(f"the tool's {k}", v) for group in ("percentiles_ms", "other_ms")
                    for k, v in (summary.get(group) or {}).items()]
        for what, value in figures:
            if _bad_figure(value):
                raise ImportFileError(path, None, f"finite, non-negative milliseconds, not "
                                      f"{value!r} ({what})", at=at)
        for name in ("peak_load_kb", "peak_inference_kb"):
            if _bad_figure(getattr(cell, name), integer=True):
                raise ImportFileError(path, None, f"a whole, non-negative memory figure, not "
                                      f"{getattr(cell, name)!r} ({name})", at=at)


def _key(name: str) -> str:
    name = re.sub(r"\.(tflite|pte|onnx|mlpackage|mlmodelc?|dlc|bin)$", "", name.strip(), flags=re.I)
    return re.sub(r"[^a-z0-9]", "", name.lower())


def zoo_names() -> dict[str, str]:
    from harness.zoo.index import zoo_index

    return {_key(e.name): e.name for e in zoo_index()}


def model_info(name: str) -> tuple[str, dict]:
    """(the zoo's name, its facts) for a name that matches the zoo; else (name, {})."""
    from harness.zoo.index import zoo_index

    zoo = zoo_names()
    matched = zoo.get(_key(name))
    if matched is None:
        return name, {"family": "", "imported_name": name}
    entry = next(e for e in zoo_index() if e.name == matched)
    pub = entry.published
    published = dataclasses.asdict(pub) if pub else None
    counts = {"params": int(pub.params_m * 1e6) if pub and pub.params_m else None,
              "macs": int(pub.macs_g * 1e9) if pub and pub.macs_g else None}
    return matched, {"family": entry.family, "input_size": entry.input_size, **counts,
                     "published": published, "imported_name": name}


def _record(cell: ImportedCell, run_id: str, origin: str):
    from harness.placement.build import with_placement
    from harness.store import BenchmarkRecord, ToolSummary

    model, info = model_info(cell.model)
    not_measured = {name: f"{origin} does not report it"
                    for name in ("load_ms", "first_inference_ms")
                    if getattr(cell, name) is None}
    context = {"imported": {"tool": origin, "samples": cell.samples_are, "threads": cell.threads,
                            **cell.details}}
    if not_measured:
        context["not_measured"] = not_measured
    if cell.summary:
        summary = ToolSummary.from_dict(cell.summary)  # the shape every report reads
        context[ToolSummary.KEY] = summary.to_dict()
    ok = cell.measured
    result = RunResult(
        model=model, format=cell.format, status="ok" if ok else "run_failed", device=cell.device,
        runtime=cell.runtime, backend=cell.backend, precision=cell.precision,
        threads=cell.threads or 1,  # the contract's number; the reports read context["imported"]
        runtime_versions=dict(cell.versions), load_ms=cell.load_ms,
        first_inference_ms=cell.first_inference_ms,
        samples_ms=tuple(cell.samples_ms) if ok else (),
        peak_rss_load_kb=cell.peak_load_kb, peak_rss_inference_kb=cell.peak_inference_kb,
        context=context, error="" if ok else cell.reason)
    artifact = {"model": model, "format": cell.format, "status": "ok", "cache_key": "",
                "backend": cell.backend, "precision": cell.precision,
                "runtime": cell.runtime, "exporter_versions": {}, "numerics": None,
                "details": {"delegation": cell.delegation} if cell.delegation else {},
                "reason": "", "notes": [f"built and measured outside the harness ({origin})"]}
    # Where its operators ran, as far as the file says (AI Hub's layer counts, benchmark_model's
    # delegate lines): harness.placement.
    return with_placement(BenchmarkRecord(
        run_id=run_id, model=model, format=cell.format, device_id=cell.device.device_id,
        status=result.status, reason="" if ok else (cell.reason or "the file reports no latency"),
        artifact=artifact, model_info=info, result=result))


def import_file(store, path: Path, device: DeviceInfo | None, argv: str, tool: str | None = None,
                fmt: str | None = None, model: str | None = None, runtime: str | None = None,
                platform: str | None = None, limits: ImportLimits | None = None
                ) -> list[tuple[str, int, int]]:
    """Read `path` and store its cells, one run per device; [(run id, cells, measured)]."""
    from harness import __version__
    from harness.store import RUN_COMPLETE

    path = Path(path)
    found, cells = read_cells(path, device, tool, fmt, model, runtime, platform, limits)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    by_device: dict[str, list[ImportedCell]] = {}
    for cell in cells:
        by_device.setdefault(cell.device.device_id, []).append(cell)
    # Every record is built before the first run begins: a cell that cannot become a record
    # stops the import with nothing written.
    planned = [(group, [_record(c, "", TOOLS[found]) for c in group])
               for _, group in sorted(by_device.items())]
    stored = []
    for group, records in planned:
        config = {"imported": {"tool": found, "tool_name": TOOLS[found], "file": path.name,
                               "sha256": sha}, "models": sorted({r.model for r in records}),
                  "formats": sorted({c.format for c in group})}
        run_id = store.begin_run(device=dataclasses.asdict(group[0].device), config=config,
                                 argv=argv, git_sha=None, harness_version=__version__)
        for record in records:
            store.add_record(dataclasses.replace(record, run_id=run_id))
        store.finish_run(run_id, RUN_COMPLETE)
        stored.append((run_id, len(records), sum(r.status == "ok" for r in records)))
    return stored
