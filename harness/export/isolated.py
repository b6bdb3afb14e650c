"""Exports in a child process: the user's model code never runs in the harness process.

Building a model, loading its weights, counting its params and MACs, exporting it and checking
its numerics all execute model code that may raise, hang or eat the machine's memory. `harness
run` and `harness export` therefore do all of it in `python -m harness.export.child`, one child
per model, and only what the cache lacks: a model whose every artifact and counts are cached
(and verified) starts no child at all.

The child reports each step on a pipe as one JSON line; the parent gives each step a deadline
(`timeout_s` for building and counting: a forward that never returns; `export_timeout_s` for
one format's export and numerics check, which take minutes for the biggest models) and kills the
child when it passes. The child runs under a memory limit (RLIMIT_AS, `memory_limit_bytes`;
default `default_memory_limit()`, 80% of this machine's memory: a model that needs more cannot
be measured honestly here, since the runtimes would swap or meet the out-of-memory killer, and
the harness, the shell and the other cells must survive it). Converter output and tracebacks go
to `log_path`, not the terminal.

What a failure becomes, one row per format of the model, and the run goes on:
- the model cannot be built (factory or forward raises, weights do not load, the build step runs
  out of time or memory): every format `build_failed` with the reason; nothing is cached;
- one format's export kills the child or runs out of time: that format `export_failed` with the
  reason (not cached: it says nothing certain about the model), and a new child does the rest;
- a converter error: `export_failed`, cached as before (it would fail the same way again).
"""

from __future__ import annotations

import json
import logging
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from device_runners.process import child_preexec, describe_exit
from harness.export.base import ARTIFACT_BUILD_FAILED, Artifact, FormatSpec
from harness.export.cache import ArtifactCache, _file_digest
from harness.export.pipeline import plan_export, uncached_failure
from harness.zoo.registry import ModelSpec

log = logging.getLogger("harness.export")

DEFAULT_EXPORT_TIMEOUT_S = 3600.0
# How long a child may take to import torch and the harness before its first step, whatever
# --timeout says (imports take 2-6 s on a quiet machine, much more on a loaded one).
STARTUP_S = 120.0
# The share of physical memory a child may map; see the module docstring.
MEMORY_SHARE = 0.8


def default_memory_limit() -> int | None:
    """80% of this machine's physical memory in bytes, or None where it cannot be read."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") * MEMORY_SHARE)
    except (ValueError, OSError, AttributeError):
        return None


@dataclass(frozen=True)
class ChildLimits:
    """How long each step of a child may take, and how much memory the child may map."""

    timeout_s: float = 600.0
    export_timeout_s: float = DEFAULT_EXPORT_TIMEOUT_S
    memory_limit_bytes: int | None = field(default_factory=default_memory_limit)

    def describe_memory(self) -> str:
        if self.memory_limit_bytes is None:
            return "no memory limit"
        return f"the memory limit of {self.memory_limit_bytes / 2**30:.1f} GiB (--memory-limit)"


@dataclass
class ModelExport:
    """A model's artifacts in the formats asked for, its params and MACs, and eager PyTorch's
    outputs on the check inputs (what a runner's on-device outputs are compared with)."""

    counts: dict  # {"params", "macs"} (+ "error" when counting failed, "reference")
    artifacts: dict[str, Artifact]

    @property
    def reference(self) -> dict | None:
        return self.counts.get("reference")

    @property
    def info(self) -> dict:
        """The counts without the reference outputs (what a record stores)."""
        return {k: v for k, v in self.counts.items() if k != "reference"}


# ----------------------------------------------------------------------------------------------
# Params and MACs, cached beside the artifacts


def counts_name(spec: ModelSpec) -> str:
    """Where a model's counts live in the cache: keyed by the files that define the model."""
    if spec.is_given:
        from harness.export.given import counts_name as given_counts_name

        return given_counts_name(spec)
    digest = "-".join(_file_digest(f)[:12] for f in spec.source_digest_inputs())
    channels = f"-c{spec.input_channels}" if spec.input_channels != 3 else ""
    return f"model-info/{spec.name}-{spec.input_size}{channels}-{digest or 'nosource'}.json"


def cached_counts(spec: ModelSpec, cache: ArtifactCache) -> dict | None:
    """The model's params, MACs and eager reference outputs, when cached (all three)."""
    counts = cache.read_extra(counts_name(spec))
    return counts if counts is not None and "params" in counts and "reference" in counts else None


# ----------------------------------------------------------------------------------------------
# The parent side


def default_jobs() -> int:
    """Export children at once by default: one per core."""
    return max(1, os.cpu_count() or 1)


def export_all(
    specs: list[ModelSpec],
    formats_of: Callable[[ModelSpec], list[FormatSpec]],
    cache: ArtifactCache,
    *,
    jobs: int = 1,
    on_done: Callable[[ModelSpec, ModelExport], None] | None = None,
    on_step: Callable[[str, str, str], None] | None = None,
    **options,
) -> dict[str, ModelExport]:
    """`export_model` for every model, `jobs` children at a time; {model name: its export}.

    Models are independent (one child each, the cache writes atomically), so they build in
    parallel; `on_done` is called, in the calling thread, as each model finishes, and
    `on_step(model name, format name or "", step)` as a child starts a step. The caller
    measures nothing meanwhile: exports and measurements never share the machine.
    """
    def steps_of(spec):
        return (lambda fmt, step: on_step(spec.name, fmt, step)) if on_step else None

    if jobs <= 1 or len(specs) <= 1:
        done = {}
        for spec in specs:
            done[spec.name] = export_model(spec, formats_of(spec), cache, on_step=steps_of(spec),
                                           **options)
            if on_done:
                on_done(spec, done[spec.name])
        return done
    from concurrent.futures import ThreadPoolExecutor, as_completed

    done = {}
    # Threads only wait on their children's pipes; each child is a process of its own.
    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="export") as pool:
        futures = {pool.submit(export_model, spec, formats_of(spec), cache, on_step=steps_of(spec),
                               **options): spec
                   for spec in specs}
        try:
            for future in as_completed(futures):
                spec = futures[future]
                done[spec.name] = future.result()
                if on_done:
                    on_done(spec, done[spec.name])
        except BaseException:  # Ctrl-C: stop the children the pool is waiting on
            for future in futures:
                future.cancel()
            kill_children()
            raise
    return done


_LIVE: set[subprocess.Popen] = set()


def kill_children() -> None:
    """Kill every export child still running (the harness is stopping)."""
    for proc in list(_LIVE):
        _kill(proc)


def export_model(
    spec: ModelSpec,
    formats: list[FormatSpec],
    cache: ArtifactCache,
    *,
    seed: int = 0,
    calibration_dir: Path | None = None,
    limits: ChildLimits | None = None,
    log_path: Path | None = None,
    on_step: Callable[[str, str], None] | None = None,
) -> ModelExport:
    """Every format of one model, from the cache where it can, else from child processes.

    `on_step(format name or "", step)` is called as the child starts each step, for progress.
    """
    limits = limits or ChildLimits()
    artifacts: dict[str, Artifact] = {}
    todo: list[FormatSpec] = []
    for fmt in formats:
        plan = plan_export(spec, fmt, cache, seed, calibration_dir)
        if isinstance(plan, Artifact):
            artifacts[fmt.name] = plan
        elif plan.ready is not None:
            artifacts[fmt.name] = plan.ready
        else:
            todo.append(fmt)
    counts = cached_counts(spec, cache)
    if counts is not None and not todo:
        return ModelExport(counts, artifacts)
    cache.remove_dead_staging()
    need_counts = counts is None
    while todo or need_counts:
        outcome = _run_child(spec, todo, need_counts, cache, seed, calibration_dir, limits,
                             log_path, on_step)
        cache.remove_dead_staging()  # a child killed mid-export leaves its staging directory
        artifacts.update(outcome.artifacts)
        todo = [f for f in todo if f.name not in outcome.artifacts]
        if outcome.counts is not None:
            counts, need_counts = outcome.counts, False
        if outcome.build_failure:
            artifacts.update({f.name: build_failed(spec, f, outcome.build_failure) for f in todo})
            break
        if outcome.failed_format is None:
            break  # finished (a child that ended without a word about a format is one too)
        failed = next(f for f in todo if f.name == outcome.failed_format)
        artifacts[failed.name] = uncached_failure(spec, failed, outcome.failure)
        todo.remove(failed)  # and a fresh child takes the rest
    if counts is None:
        counts = {"params": None, "macs": None}
    return ModelExport(counts, {f.name: artifacts[f.name] for f in formats})


def build_failed(spec: ModelSpec, fmt: FormatSpec, reason: str) -> Artifact:
    return uncached_failure(spec, fmt, reason).with_(status=ARTIFACT_BUILD_FAILED)


@dataclass
class _Outcome:
    artifacts: dict[str, Artifact] = field(default_factory=dict)
    counts: dict | None = None
    build_failure: str = ""  # the model could not be built: every remaining format fails
    failed_format: str | None = None  # the format whose export killed or outlived the child
    failure: str = ""


def _job(spec: ModelSpec, formats: list[FormatSpec], need_counts: bool, cache: ArtifactCache,
         seed: int, calibration_dir: Path | None) -> dict:
    from harness.export.given import to_job

    return {
        "given": to_job(spec) if spec.is_given else None,
        "reference": spec.reference or spec.name,
        "input_shape": list(spec.input_shape) if spec.family == "external" else None,
        "weights": spec.weights,
        "seed": seed,
        "calibration_dir": str(calibration_dir) if calibration_dir else None,
        "cache_dir": str(cache.root.resolve()),
        "formats": [f.name for f in formats],
        "counts": need_counts,
        "counts_name": counts_name(spec),
    }


def _run_child(spec, formats, need_counts, cache, seed, calibration_dir, limits: ChildLimits,
               log_path: Path | None, on_step) -> _Outcome:
    """One child over `formats`; returns what it reported and how it ended."""
    outcome = _Outcome()
    read_fd, write_fd = os.pipe()
    with tempfile.NamedTemporaryFile("w", prefix="harness-export-", suffix=".json",
                                     delete=False) as job_file:
        json.dump(_job(spec, formats, need_counts, cache, seed, calibration_dir), job_file)
    # Converter chatter and tracebacks go to the log; without one, to a file of our own whose
    # last line explains a death (a pipe could fill up and stall the child).
    own_log = log_path is None
    if own_log:
        log_path = Path(tempfile.mkstemp(prefix="harness-export-", suffix=".log")[1])
    log_file = open(log_path, "ab")  # noqa: SIM115 (closed below)
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "harness.export.child", "--job", job_file.name,
             "--progress-fd", str(write_fd)],
            pass_fds=(write_fd,), stdin=subprocess.DEVNULL, stdout=log_file, stderr=log_file,
            preexec_fn=child_preexec(limits.memory_limit_bytes), start_new_session=True,
        )
    finally:
        os.close(write_fd)
    _LIVE.add(proc)
    step, fmt_name = "start", None
    try:
        for event in _events(read_fd, proc, lambda: _deadline(step, limits)):
            kind = event.get("event")
            if kind == "step":
                step, fmt_name = event["step"], event.get("format")
                if on_step:
                    on_step(fmt_name or "", step)
            elif kind == "counts":
                outcome.counts = event["counts"]
            elif kind == "artifact":
                artifact = Artifact.from_dict(event["artifact"])
                outcome.artifacts[artifact.format] = artifact
            elif kind == "build_failed":
                outcome.build_failure = event["reason"]
            elif kind == "timeout":
                _kill(proc)
                _died(outcome, step, fmt_name, _timeout_reason(step, limits))
            elif kind == "eof":
                returncode = proc.wait()
                if returncode != 0 and not outcome.build_failure:
                    _died(outcome, step, fmt_name,
                          _death_reason(returncode, limits, log_path, shown=not own_log))
    except BaseException:  # Ctrl-C included: the child must not outlive the harness
        _kill(proc)
        raise
    finally:
        _LIVE.discard(proc)
        os.close(read_fd)
        log_file.close()
        os.unlink(job_file.name)
        if own_log:
            log_path.unlink(missing_ok=True)
        if proc.poll() is None:
            _kill(proc)
    return outcome


def _deadline(step: str, limits: ChildLimits) -> float:
    if step == "start":  # importing torch and the harness: not the model's time to spend
        return max(limits.timeout_s, STARTUP_S)
    return limits.export_timeout_s if step == "export" else limits.timeout_s


def _events(read_fd: int, proc: subprocess.Popen, step_timeout: Callable[[], float]):
    """The child's JSON lines, then {"event": "eof"}; {"event": "timeout"} when the current
    step outlives its deadline (the caller kills the child)."""
    selector = selectors.DefaultSelector()
    selector.register(read_fd, selectors.EVENT_READ)
    buffer = b""
    step_started = time.monotonic()
    while True:
        remaining = step_timeout() - (time.monotonic() - step_started)
        if remaining <= 0:
            yield {"event": "timeout"}
            return
        if not selector.select(timeout=min(remaining, 1.0)):
            continue
        chunk = os.read(read_fd, 65536)
        if not chunk:
            yield {"event": "eof"}
            return
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            event = json.loads(line)
            if event.get("event") == "step":
                step_started = time.monotonic()
            yield event


def _kill(proc: subprocess.Popen) -> None:
    """The child and everything it started (a converter may spawn processes of its own)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def _died(outcome: _Outcome, step: str, fmt_name: str | None, reason: str) -> None:
    if step == "export" and fmt_name:
        outcome.failed_format, outcome.failure = fmt_name, reason
    else:
        outcome.build_failure = reason


def _timeout_reason(step: str, limits: ChildLimits) -> str:
    if step == "export":
        return (f"the export took longer than --export-timeout {limits.export_timeout_s:.0f} s "
                "and was stopped; raise it for a big model")
    what = {"start": "starting the export process", "build": "building the model and one forward",
            "counts": "counting params and MACs"}.get(step, step)
    return (f"{what} took longer than --timeout {limits.timeout_s:.0f} s and was stopped "
            "(a forward that never returns?); raise --timeout if the model is just slow")


def _death_reason(returncode: int, limits: ChildLimits, log_path: Path, shown: bool) -> str:
    """Why the child died: its exit, the memory limit it ran under, and its last words."""
    try:
        lines = [ln.strip() for ln in log_path.read_bytes()[-8192:].decode(errors="replace").splitlines()
                 if ln.strip()]
    except OSError:
        lines = []
    tail = f": {lines[-1][:200]}" if lines else ""
    memory = f" under {limits.describe_memory()}" if returncode < 0 else ""
    where = f"; its output is in {log_path}" if shown else ""
    return f"the export process died ({describe_exit(returncode)}){memory}{tail}{where}"
