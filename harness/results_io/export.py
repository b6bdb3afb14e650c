"""`harness results export`: stored records as CSV, JSONL or v3 records.

    csv     one row per cell: what ran and where, its settings, every statistic stored with it,
            load, memory, energy, its warnings and its origin, and `latency_from`: "samples",
            another tool's summary (then only the figures that tool printed fill the columns)
            or "memory only". For spreadsheets and pandas.
    jsonl   one JSON object per line and cell: `harness show --json`'s record (harness.report.
            jsonable.record_json) with the run and the raw timed samples, trial by trial.
    hud-v3  the PyTorch benchmark database's v3 records (a JSON list, with the table's types:
            harness.results_io.hud_v3), the shape ExecuTorch's dashboard ingests: per cell
            `avg_inference_latency(ms)` with every timed sample as its `benchmark_values` (their
            mean is the average the metric names), the median with its CI and n in
            `median_inference_latency(ms)`, p90, `model_load_time(ms)`,
            `first_inference_latency(ms)` and peak memory at load and inference; another tool's
            summary as that tool's figure (its mean as `avg_inference_latency(ms)`), memory alone
            as memory; `benchmark.name` "harness", `model.backend` the delegate, the format in
            `model.extra_info`, `runners` the device. A failed cell is a `FAILURE_REPORT`
            record, as ExecuTorch's CI writes one.

The records are the newest of every cell (`Store.latest_records`, what the leaderboard shows)
or one run's. Rows are in a fixed order (device, model, format), numbers as stored, so one
database gives the same file every time.

Every format is written as it is made, record by record (`export_chunks`), one record's samples
in memory at a time; what a JSONL line repeats of its run is bounded: the run's header (id,
device, settings, command), never its list of models and formats, which an imported run of
200,000 tests would repeat on each of its 200,000 lines.
"""

from __future__ import annotations

import csv
import io
import json
import math
import time

from harness.report.figures import fmt_run_settings, origin_text
from harness.report.jsonable import record_json, run_json, strict
from harness.report.leaderboard import settings_of
from harness.results_io import hud_v3
from harness.results_io.cells import UNKNOWN

FORMATS = ("csv", "jsonl", "hud-v3")

CSV_COLUMNS = (
    "run_id", "started_utc", "git_sha", "device_id", "product_model", "platform", "model",
    "family", "format", "runtime", "backend", "precision", "threads", "cpu_affinity", "status",
    "reason", "n", "median_ms", "ci_low_ms", "ci_high_ms", "ci_level", "p90_ms", "p99_ms",
    "mean_ms", "std_ms", "cv", "min_ms", "max_ms", "trimmed_mean_ms", "trials", "load_ms",
    "first_inference_ms", "peak_rss_load_kb", "peak_rss_inference_kb", "energy_mj_per_inference",
    "energy_source", "unstable", "warnings", "origin", "settings", "latency_from")


def _utc(t: float | None) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t)) if t else ""


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ""
    return str(value)


BATCH = 200  # records read from the store at a time while exporting


def stored_records(store, run_id: str | None = None):
    """The records an export writes, in its order (device, model, format), read from the
    store `BATCH` at a time: what is in memory is one batch, never the whole database."""
    if run_id is not None:
        index = store.record_index(store.get_run(run_id).id)
    else:
        wanted = set(store.latest_record_ids())
        index = [key for key in store.record_index() if key[3] in wanted]
    index.sort()
    for start in range(0, len(index), BATCH):
        batch = index[start:start + BATCH]
        by_id = {r.id: r for r in store.records_by_id([key[3] for key in batch])}
        for key in batch:
            yield by_id[key[3]]


def csv_chunks(records, runs):
    """The CSV of `records` (in the order given), a row at a time."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")

    def flush() -> str:
        text = out.getvalue()
        out.seek(0)
        out.truncate()
        return text

    writer.writerow(CSV_COLUMNS)
    yield flush()
    for r in records:
        run = runs.get(r.run_id)
        s, res = r.stats, r.result
        settings = settings_of(r, run)
        device = res.device if res else None
        energy = res.energy if res else None
        row = {
            "run_id": r.run_id, "started_utc": _utc(run.started_at if run else None),
            "git_sha": run.git_sha if run else None, "device_id": r.device_id,
            "product_model": device.product_model if device else None,
            "platform": device.platform if device else None, "model": r.model,
            "family": r.model_info.get("family"), "format": r.format,
            "runtime": res.runtime if res else None, "backend": settings.backend,
            "precision": settings.precision, "threads": settings.threads,
            "cpu_affinity": ",".join(map(str, settings.placement or ())) or None,
            "status": r.status, "reason": r.reason or None,
            "trials": s.trials if s else None, "load_ms": res.load_ms if res else None,
            "first_inference_ms": res.first_inference_ms if res else None,
            "peak_rss_load_kb": res.peak_rss_load_kb if res else None,
            "peak_rss_inference_kb": res.peak_rss_inference_kb if res else None,
            "energy_mj_per_inference": (energy.joules_per_inference * 1000
                                        if energy and energy.joules_per_inference is not None
                                        else None),
            "energy_source": energy.source if energy else None,
            "unstable": int(r.unstable), "warnings": " | ".join(r.warnings) or None,
            "origin": origin_text(run.config if run else {}) or "measured by the harness",
            "settings": fmt_run_settings(run.config) if run else None,
        }
        summary = r.tool_summary
        if s is not None:
            row.update(n=s.n, median_ms=s.median, ci_low_ms=s.ci_low, ci_high_ms=s.ci_high,
                       ci_level=s.ci_level, p90_ms=s.p90, p99_ms=s.p99, mean_ms=s.mean,
                       std_ms=s.std, cv=s.cv, min_ms=s.min, max_ms=s.max,
                       trimmed_mean_ms=s.trimmed_mean, latency_from="samples")
        elif summary is not None:  # the tool's own figures, only those it printed
            row.update(n=summary.n, median_ms=summary.median_ms, mean_ms=summary.mean_ms,
                       std_ms=summary.std_ms, min_ms=summary.min_ms, max_ms=summary.max_ms,
                       latency_from=summary.label)
        elif r.memory_only:
            row["latency_from"] = "memory only"
        writer.writerow([_cell(row.get(c)) for c in CSV_COLUMNS])
        yield flush()


# What a JSONL line repeats of its run: its header, not the lists of everything the run measured.
RUN_LISTS = ("models", "formats")


def jsonl_chunks(records, runs, samples_of):
    """One line per record (in the order given); `samples_of(record)` gives a record's timed
    samples, one list per trial."""
    headers = {}
    for r in records:
        run = runs.get(r.run_id)
        if run is not None and run.id not in headers:
            headers[run.id] = {k: v for k, v in run_json(run).items() if k not in RUN_LISTS}
        data = record_json(r, run, samples_of(r) if r.id is not None else None)
        data["run"] = headers.get(run.id) if run else None
        data["origin"] = origin_text(run.config if run else {}) or None
        yield json.dumps(strict(data), sort_keys=True, allow_nan=False) + "\n"


def _v3_records(r, run, samples: list[float]) -> list[dict]:
    """One stored record as v3 records (harness.results_io.hud_v3 has the table's types)."""
    settings = settings_of(r, run)
    config = run.config if run else {}
    res, s, summary = r.result, r.stats, r.tool_summary
    base = dict(
        model=r.model, fmt=r.format, backend=settings.backend, precision=settings.precision or UNKNOWN,
        origin=origin_text(config),
        bench_extra={"run_id": r.run_id, "git_sha": run.git_sha if run else None,
                     "harness_version": run.harness_version if run else None,
                     "settings": fmt_run_settings(config) if run else None,
                     "origin": origin_text(config) or None, "threads": settings.threads,
                     "runtime": res.runtime if res else "", "backend": settings.backend,
                     "precision": settings.precision, "started_utc": _utc(run.started_at if run else None)},
        model_extra={"family": r.model_info.get("family")},
        runner_row=hud_v3.runner(res.device if res else None, run.device if run else {}, r.device_id))

    def one(metric: str, values: list[float], extra: dict | None = None) -> dict:
        return hud_v3.record(**base, metric=metric, values=values, metric_extra=extra or {})

    if r.status != "ok":
        return [one(hud_v3.FAILURE, [0], {"status": r.status, "reason": r.reason})]
    out = []
    if s is not None:
        out.append(one(hud_v3.LATENCY, samples or [s.mean],
                       {"method": "forward", "n": s.n, "values": "every timed sample" if samples
                        else "the mean (no samples stored)"}))
        out.append(one("median_inference_latency(ms)", [s.median],
                       {"ci_low": s.ci_low, "ci_high": s.ci_high, "ci_level": s.ci_level, "n": s.n,
                        "unstable": r.unstable, "warnings": list(r.warnings)}))
        out.append(one("p90_inference_latency(ms)", [s.p90]))
    elif summary is not None:  # another tool's figure, written as that tool's
        out.append(one(hud_v3.SUMMARY_METRICS.get(summary.statistic, "inference_time(ms)"),
                       [summary.value_ms],
                       {"method": "forward", "n": summary.n, "values": summary.label,
                        "tool_summary": summary.to_dict()}))
    if res is not None:
        for metric, value in ((hud_v3.LOAD, res.load_ms), (hud_v3.FIRST, res.first_inference_ms)):
            if value is not None:
                out.append(one(metric, [value], {"method": "load" if metric == hud_v3.LOAD
                                                 else "forward"}))
        for metric, kib in ((hud_v3.PEAK_LOAD, res.peak_rss_load_kb),
                            (hud_v3.PEAK_INFERENCE, res.peak_rss_inference_kb)):
            if kib is not None:
                out.append(one(metric, [kib / 1024], {"kib": kib}))
    return out


def hud_v3_chunks(records, runs, samples_of):
    """A JSON list of v3 records, one record at a time: the bytes json.dumps(list, indent=1)
    would write."""
    first = True
    yield "["
    for r in records:
        samples = [v for trial in samples_of(r) for v in trial] if r.id is not None and r.stats \
            else []
        for record in _v3_records(r, runs.get(r.run_id), samples):
            text = json.dumps(strict(record), indent=1, sort_keys=True, allow_nan=False)
            yield ("\n " if first else ",\n ") + text.replace("\n", "\n ")
            first = False
    yield "]\n" if first else "\n]\n"


def export_chunks(store, fmt: str, run_id: str | None = None):
    """(the number of cells, the file's text in pieces, made as they are read) of the newest
    record of every cell, or of one run's records. A run that does not exist is refused here,
    before the first piece."""
    runs = {run.id: run for run in store.runs()}
    count = len(store.record_index(store.get_run(run_id).id) if run_id is not None
                else store.latest_record_ids())
    records = stored_records(store, run_id)

    def samples_of(record):
        return store.trial_samples(record.id)

    if fmt == "csv":
        return count, csv_chunks(records, runs)
    if fmt == "jsonl":
        return count, jsonl_chunks(records, runs, samples_of)
    return count, hud_v3_chunks(records, runs, samples_of)
