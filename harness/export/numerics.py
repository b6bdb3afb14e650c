"""Numerics check: an artifact's outputs against eager PyTorch on the same seeded inputs."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from harness.export.base import Numerics

NUMERICS_INPUTS = 3


def seeded_inputs(input_shape: tuple[int, ...], count: int = NUMERICS_INPUTS, seed: int = 1234):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(input_shape).astype(np.float32) for _ in range(count)]


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


def compare_outputs(expected: list[np.ndarray], actual: list[np.ndarray], min_cosine: float) -> Numerics:
    """Compare pairs of first outputs (one pair per input)."""
    errors, cosines, tops = [], [], []
    for e, a in zip(expected, actual):
        a = np.asarray(a, dtype=np.float32).reshape(e.shape)
        errors.append(float(np.max(np.abs(e - a))))
        cosines.append(cosine(e, a))
        t = top5_agreement(e, a)
        if t is not None:
            tops.append(t)
    worst_cos = min(cosines)
    return Numerics(
        max_abs_error=max(errors),
        cosine=worst_cos,
        top5_agreement=float(np.mean(tops)) if tops else None,
        inputs=len(expected),
        passed=bool(worst_cos >= min_cosine),
        min_cosine=min_cosine,
    )


@torch.no_grad()
def eager_outputs(model: nn.Module, inputs: list[np.ndarray]) -> list[np.ndarray]:
    outs = []
    for x in inputs:
        y = model(torch.from_numpy(x))
        y = y[0] if isinstance(y, (list, tuple)) else y
        outs.append(y.detach().numpy())
    return outs
