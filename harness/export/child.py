"""The export child: `python -m harness.export.child --job JOB.json --progress-fd N`.

Started by harness.export.isolated, one per model, to run the user's model code away from the
harness process: build the model (and one forward), count its params and MACs when asked, then
export it to each format of the job through harness.export.pipeline, which commits every
artifact to the cache the moment it is checked. Progress goes to file descriptor N as one JSON
object per line (see `emit`); everything else it or the converters print goes to stdout and
stderr, which the parent points at the run's log.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import traceback

from device_runners.process import watch_parent


def emit(stream, **event) -> None:
    """One progress line; flushed at once, so the parent knows which step a death happened in."""
    stream.write(json.dumps(event, allow_nan=False) + "\n")
    stream.flush()


def build_reason(exc: BaseException, what: str) -> str:
    """One line on why the model could not be built, naming memory when that was the cause."""
    from harness.export.reasons import one_line_reason

    reason = one_line_reason(exc)
    if isinstance(exc, MemoryError) or "can't allocate memory" in str(exc).lower():
        reason = f"out of memory under the --memory-limit: {reason}"
    return f"{what} failed: {reason}"


def run_job(job: dict, progress) -> None:
    import torch

    from harness.export.base import get_format
    from harness.export.cache import ArtifactCache
    from harness.export.numerics import eager_outputs, reference_record, seeded_inputs
    from harness.export.pipeline import export_artifact
    from harness.zoo import create_model, resolve_models
    from harness.zoo.counting import count_macs, count_params

    cache = ArtifactCache(job["cache_dir"])
    if job.get("given"):
        run_given_job(job, cache, progress)
        return
    shape = tuple(job["input_shape"]) if job["input_shape"] else None
    [spec] = resolve_models(job["reference"], shape, weights=job["weights"])

    emit(progress, event="step", step="build")
    try:
        model = create_model(spec, seed=job["seed"])
        example = torch.from_numpy(seeded_inputs(spec.input_shape, count=1, seed=job["seed"])[0])
        with torch.no_grad():
            model(example)
    except Exception as exc:
        traceback.print_exc()
        emit(progress, event="build_failed", reason=build_reason(exc, "building the model or its forward"))
        return

    if job["counts"]:
        emit(progress, event="step", step="counts")
        try:
            counts = {"params": count_params(model), "macs": count_macs(model, spec.input_shape)}
        except Exception as exc:  # the counts are a side dish: the exports can still be made
            traceback.print_exc()
            counts = {"params": None, "macs": None, "error": build_reason(exc, "counting")}
        # Eager outputs of the check inputs, for the numerics check runners do on the device.
        counts["reference"] = reference_record(eager_outputs(model, seeded_inputs(spec.input_shape)))
        try:
            cache.write_extra(job["counts_name"], counts)
        except OSError:  # a full disk: the counts are reported, just not cached
            traceback.print_exc()
        emit(progress, event="counts", counts=counts)

    for name in job["formats"]:
        emit(progress, event="step", step="export", format=name)
        artifact = export_artifact(spec, get_format(name), cache, lambda: model, seed=job["seed"],
                                   calibration_dir=job["calibration_dir"])
        emit(progress, event="artifact", artifact=artifact.to_dict())


def run_given_job(job: dict, cache, progress) -> None:
    """Artifact files given as they are (harness.export.given): the reference file's outputs,
    then each file hashed, copied into the cache and checked against them."""
    from harness.export.base import get_format
    from harness.export.given import from_job, import_given, reference_outputs
    from harness.export.numerics import reference_record
    from harness.export.reasons import one_line_reason

    spec = from_job(job["given"])
    emit(progress, event="step", step="build")
    expected, why = None, ""
    try:
        expected = reference_outputs(spec)
    except Exception as exc:  # the reference cannot run here (Core ML on Linux) or is damaged
        traceback.print_exc()
        why = (f"numerics not checked: the --numerics-reference {spec.numerics_reference} cannot "
               f"run here: {one_line_reason(exc)}")
    if job["counts"]:
        counts = {"params": None, "macs": None,
                  "reference": reference_record(expected) if expected is not None else None}
        try:
            cache.write_extra(job["counts_name"], counts)
        except OSError:
            traceback.print_exc()
        emit(progress, event="counts", counts=counts)
    for name in job["formats"]:
        emit(progress, event="step", step="export", format=name)
        try:
            artifact = import_given(spec, get_format(name), cache, expected, why)
        except Exception as exc:  # a file its runtime cannot load: a failed row, not a crash
            traceback.print_exc()
            from harness.export.pipeline import uncached_failure

            artifact = uncached_failure(spec, get_format(name),
                                        f"the given file could not be read: {one_line_reason(exc)}")
        emit(progress, event="artifact", artifact=artifact.to_dict())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.export.child")
    parser.add_argument("--job", required=True)
    parser.add_argument("--progress-fd", type=int, required=True)
    args = parser.parse_args(argv)
    watch_parent()
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.captureWarnings(True)
    with open(args.job) as f:
        job = json.load(f)
    with os.fdopen(args.progress_fd, "w") as progress:
        run_job(job, progress)
        emit(progress, event="done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
