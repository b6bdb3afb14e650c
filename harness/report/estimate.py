"""How long a run will take, said before it starts, and the work units its progress bar counts.

    31 models x 2 formats = 62 cells, 24 exports to build (38 cached), 3 trials each: about 25 min

An estimate, from what this machine did before where it can: an export takes as long as the
median export of that format in the artifact cache (else a default per format), a trial as long
as its warm-up and timed iterations at the cell's last stored median (else `--min-time`), plus
the start of a measuring process. Exports run `jobs` at a time. It never reads a model's code,
builds nothing and hashes only source files (the cache keys).

The progress bar counts these estimated seconds, so its time remaining covers the exports and
the measurements alike; the cells done are counted beside it.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from harness.export.given import formats_for

# Where the cache has none of a format yet, one export takes its FormatSpec's estimate.
FALLBACK_EXPORT_S = 60.0
# A file given as it is (harness.export.given): copied into the cache and run for its numerics.
GIVEN_IMPORT_S = 5.0
# Building a model in its export child and counting its params and MACs (imports included).
MODEL_BUILD_S = 10.0
# Starting the process (or program) that measures one trial, loading the runtime.
TRIAL_START_S = {"executorch": 1.0, "litert": 2.0, "onnxruntime": 2.0, "torch": 3.0, "coreml": 3.0}
FALLBACK_TRIAL_START_S = 3.0


@dataclass
class Estimate:
    models: int
    formats: int
    cells: int
    trials: int
    exports_to_build: int
    exports_cached: int
    export_s: float  # wall time of the exports, `jobs` models at a time
    measure_s: float
    # Estimated wall seconds of each piece of work (an export, one trial), for the progress bar.
    export_units: dict[tuple[str, str], float] = field(default_factory=dict)
    trial_units: dict[tuple[str, str], float] = field(default_factory=dict)
    kept: int = 0  # cells a resumed run keeps, neither exported nor measured

    @property
    def total_s(self) -> float:
        return self.export_s + self.measure_s

    @property
    def total_units(self) -> float:
        return sum(self.export_units.values()) + sum(
            self.trial_units.values()) * self.trials

    def line(self) -> str:
        matrix = f"{plural(self.models, 'model')} x {plural(self.formats, 'format')}"
        if self.kept:  # a resumed run: its finished cells are not measured again
            matrix += (f": {self.cells} of {self.cells + self.kept} cells left "
                       f"({self.kept} kept from the resumed run)")
        else:
            matrix += f" = {plural(self.cells, 'cell')}"
        return (f"{matrix}, {plural(self.exports_to_build, 'export')} to build "
                f"({self.exports_cached} cached), {plural(self.trials, 'trial')} each: "
                f"about {fmt_duration(self.total_s)}")


def plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def fmt_duration(seconds: float) -> str:
    """Seconds as a person says them: "4 s", "40 s" (to ten seconds), "12 min", "1.5 h"."""
    if seconds < 10:
        return f"{max(1, round(seconds)):.0f} s"
    if seconds < 90:
        return f"{round(seconds / 10) * 10:.0f} s"
    minutes = seconds / 60
    if minutes < 90:
        return f"{round(minutes):.0f} min"
    return f"{minutes / 60:.1f} h"


def cached_export_seconds(cache) -> dict[str, float]:
    """The median export time of each format among the cache's built artifacts."""
    times: dict[str, list[float]] = {}
    for artifact in cache.entries():
        if artifact.status in ("ok", "numerics_failed") and artifact.export_s > 0:
            times.setdefault(artifact.format, []).append(artifact.export_s)
    return {fmt: statistics.median(values) for fmt, values in times.items()}


def _is_cached(spec, fmt, cache, seed: int, calibration_dir, calibrations: dict) -> bool | None:
    """Whether the cache holds an entry for this export (not verified: an estimate); None when
    the exporter is missing (the cell fails at once, nothing to build)."""
    from harness.export.base import MissingExporter
    from harness.export.cache import key_inputs, key_of

    if spec.is_given:  # a file measured as it is: copied into the cache once
        from harness.export.given import given_key_inputs

        return (cache.entry_dir(key_of(given_key_inputs(spec, fmt))) / "meta.json").exists()
    try:
        versions = fmt.exporter_versions()
    except MissingExporter:
        return None
    extra = None
    if fmt.needs_calibration:
        from harness.export.calibration import calibration_set

        shape = tuple(spec.input_shape)
        if shape not in calibrations:
            calibrations[shape] = calibration_set(calibration_dir, shape).digest
        extra = {"calibration": calibrations[shape]}
    key = key_of(key_inputs(spec, fmt, seed, extra, versions))
    return (cache.entry_dir(key) / "meta.json").exists()


def estimate_run(specs, formats, cache, config, jobs: int = 1, calibration_dir=None,
                 previous_medians: dict[tuple[str, str], float] | None = None,
                 skip: set[tuple[str, str]] = frozenset()) -> Estimate:
    """The estimate of measuring `specs` x `formats` with `config` (a BenchConfig); cells in
    `skip` (kept by a resumed run) are neither exported nor measured."""
    previous_medians = previous_medians or {}  # (model, format) -> median in milliseconds
    history = cached_export_seconds(cache)
    calibrations: dict = {}
    export_units: dict[tuple[str, str], float] = {}
    trial_units: dict[tuple[str, str], float] = {}
    cached = 0
    models_to_build = set()
    for spec in specs:
        for fmt in formats_for(spec, formats):
            cell = (spec.name, fmt.name)
            if cell in skip:
                continue
            hit = _is_cached(spec, fmt, cache, config.seed, calibration_dir, calibrations)
            if hit:
                cached += 1
            elif hit is False and spec.is_given:
                export_units[cell] = GIVEN_IMPORT_S
            elif hit is False:
                export_units[cell] = history.get(fmt.name, fmt.export_estimate_s or FALLBACK_EXPORT_S)
                models_to_build.add(spec.name)
            if hit is not None:
                median_s = previous_medians.get(cell, 0.0) / 1000.0  # stored medians are in ms
                timed = config.sustained_s or max(config.min_duration_s, config.min_iterations * median_s)
                warmup = config.warmup_iterations * median_s
                trial_units[cell] = (TRIAL_START_S.get(fmt.runtime, FALLBACK_TRIAL_START_S)
                                     + warmup + timed)
    for name in models_to_build:  # building the model once per child, before its formats
        first = next(cell for cell in export_units if cell[0] == name)
        export_units[first] += MODEL_BUILD_S
    # Exports run `jobs` models at a time: the units are wall seconds, like a trial's.
    parallel = max(1, min(jobs, len(models_to_build) or 1))
    export_units = {cell: s / parallel for cell, s in export_units.items()}
    export_s = sum(export_units.values())
    measure_s = sum(trial_units.values()) * config.first_trials  # --trials auto: at least
    matrix = [(s.name, f.name) for s in specs for f in formats_for(s, formats)]
    cells = sum(1 for cell in matrix if cell not in skip)
    measured_formats = {f for _, f in matrix}
    return Estimate(
        models=len(specs), formats=len(measured_formats), cells=cells, trials=config.first_trials,
        kept=len(matrix) - cells,
        exports_to_build=len(export_units), exports_cached=cached, export_s=export_s,
        measure_s=measure_s, export_units=export_units, trial_units=trial_units,
    )
