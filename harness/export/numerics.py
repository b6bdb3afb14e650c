"""Numerics check: an artifact's outputs against eager PyTorch on the same seeded inputs.

Each precision has its own thresholds (`THRESHOLDS`), stated here and in docs/formats.md. The
gate is the worst cosine similarity over the inputs plus, where the output is logits, the mean
top-5 agreement; the max abs error is recorded beside them but not gated, because its scale
depends on the model's output range (random-weight logits span very different ranges).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

NUMERICS_INPUTS = 3


@dataclass(frozen=True)
class Numerics:
    """How far the artifact's outputs are from eager PyTorch on the same seeded inputs."""

    max_abs_error: float
    cosine: float
    top5_agreement: float | None
    inputs: int
    passed: bool
    min_cosine: float
    min_top5: float | None = None  # None: top-5 agreement reported, not gated
    # Output values that are NaN or infinite; any fails the check, and then the cosine and the
    # error are those of the finite values only (0 where none are), never NaN in a file.
    nonfinite: int = 0

    @classmethod
    def from_dict(cls, data: dict) -> "Numerics":
        return cls(**data)


@dataclass(frozen=True)
class Threshold:
    """What a precision must reach against eager fp32 to pass."""

    min_cosine: float
    # None: top-5 agreement is reported but not gated (int8: random-weight logits lie so close
    # together that quantization noise reorders them while the output stays faithful).
    min_top5: float | None


THRESHOLDS: dict[str, Threshold] = {
    # Same arithmetic up to operation order and fused kernels.
    "fp32": Threshold(min_cosine=0.999, min_top5=0.8),
    # fp16 weights or fp16 compute: about 3 significant digits per operation.
    "fp16": Threshold(min_cosine=0.99, min_top5=0.6),
    # Static int8 weights and activations, calibrated post-training.
    "int8": Threshold(min_cosine=0.98, min_top5=None),
}


def threshold_for(precision: str) -> Threshold:
    try:
        return THRESHOLDS[precision]
    except KeyError:
        raise ValueError(f"No numerics threshold for precision {precision!r}; "
                         f"known: {', '.join(THRESHOLDS)}.") from None


CHECK_SEED = 1234  # the seed of the check inputs, on the host and on every device


def seeded_inputs(input_shape: tuple[int, ...], count: int = NUMERICS_INPUTS, seed: int = CHECK_SEED):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(input_shape).astype(np.float32) for _ in range(count)]


def check_inputs_file(directory: Path, input_shape: tuple[int, ...]) -> Path:
    """The check inputs as the runner contract carries them (`check_inputs_path`): the seeded
    inputs as raw little-endian float32, back to back; written once per shape, atomically."""
    shape = "x".join(str(d) for d in input_shape)
    path = Path(directory) / f"check-inputs-{shape}-seed{CHECK_SEED}.f32"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        data = np.concatenate([x.astype("<f4").reshape(-1) for x in seeded_inputs(input_shape)])
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            data.tofile(tmp)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)  # a full disk leaves no partial file behind
    return path


def reference_record(outputs: list[np.ndarray]) -> dict:
    """Eager PyTorch's first output for each check input, as stored beside the model's counts."""
    return {"seed": CHECK_SEED, "shape": list(outputs[0].shape),
            "values": [[float(v) for v in o.reshape(-1)] for o in outputs]}


def compare_with_reference(reference: dict, outputs, threshold: "Threshold") -> Numerics:
    """A runner's check outputs (contract `CheckOutput`s) against the stored eager reference."""
    shape = tuple(reference["shape"])
    expected = [np.asarray(v, dtype=np.float32).reshape(shape) for v in reference["values"]]
    actual = [np.asarray([np.nan if v is None else v for v in o.values], dtype=np.float32)
              for o in outputs]
    if len(actual) != len(expected) or any(a.size != e.size for a, e in zip(actual, expected)):
        raise ValueError(f"{len(actual)} check outputs of sizes {[a.size for a in actual]} for "
                         f"{len(expected)} references of shape {list(shape)}")
    return compare_outputs(expected, actual, threshold)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a = a.ravel().astype(np.float64)
    b = b.ravel().astype(np.float64)
    denom = np.linalg.norm(a) * np.linalg.norm(b)
    if denom == 0:
        return 1.0 if np.array_equal(a, b) else 0.0
    return float(a @ b / denom)


def top5_agreement(a: np.ndarray, b: np.ndarray) -> float | None:
    """Mean overlap of the top-5 classes of each row; None when the output is not logits-like."""
    if a.ndim != 2 or a.shape[1] < 5:
        return None
    overlaps = []
    for ra, rb in zip(a, b):
        ta = set(np.argsort(ra)[-5:].tolist())
        tb = set(np.argsort(rb)[-5:].tolist())
        overlaps.append(len(ta & tb) / 5)
    return float(np.mean(overlaps))


def compare_outputs(
    expected: list[np.ndarray],
    actual: list[np.ndarray],
    threshold: Threshold | float,
) -> Numerics:
    """Compare pairs of first outputs (one pair per input); a float threshold is a min cosine."""
    if not isinstance(threshold, Threshold):
        threshold = Threshold(min_cosine=threshold, min_top5=None)
    errors, cosines, tops = [], [], []
    nonfinite = 0
    for e, a in zip(expected, actual):
        a = np.asarray(a, dtype=np.float32).reshape(e.shape)
        bad = ~np.isfinite(a)
        nonfinite += int(bad.sum())
        if bad.any():
            e, a = e[~bad], a[~bad]
        errors.append(float(np.max(np.abs(e - a))) if a.size else 0.0)
        cosines.append(cosine(e, a) if a.size else 0.0)
        t = top5_agreement(e, a)
        if t is not None:
            tops.append(t)
    worst_cos = min(cosines)
    top5 = float(np.mean(tops)) if tops else None
    passed = worst_cos >= threshold.min_cosine and nonfinite == 0
    if threshold.min_top5 is not None and top5 is not None:
        passed = passed and top5 >= threshold.min_top5
    return Numerics(
        max_abs_error=max(errors),
        cosine=worst_cos,
        top5_agreement=top5,
        inputs=len(expected),
        passed=bool(passed),
        min_cosine=threshold.min_cosine,
        min_top5=threshold.min_top5,
        nonfinite=nonfinite,
    )


def numerics_miss(numerics: Numerics) -> str:
    """Why a check failed, in one line."""
    misses = []
    if numerics.nonfinite:
        misses.append(f"{numerics.nonfinite} output values are NaN or infinite")
    if numerics.cosine < numerics.min_cosine:
        misses.append(f"cosine {numerics.cosine:.5f} < {numerics.min_cosine}")
    if numerics.min_top5 is not None and numerics.top5_agreement is not None \
            and numerics.top5_agreement < numerics.min_top5:
        misses.append(f"top-5 agreement {numerics.top5_agreement:.2f} < {numerics.min_top5}")
    return "; ".join(misses) or "within thresholds"


def eager_outputs(model, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """The model's first output on each input, in PyTorch itself (the reference)."""
    import torch

    outs = []
    with torch.no_grad():
        for x in inputs:
            y = model(torch.from_numpy(x))
            y = y[0] if isinstance(y, (list, tuple)) else y
            outs.append(y.detach().numpy())
    return outs
