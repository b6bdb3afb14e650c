"""Cells of the export matrix known not to work, and why: pinned, so a known limit of a converter
or runtime is told apart from a new failure.

A limit names the models (a glob over zoo names), the format, the status the cell ends in, and a
piece of the converter's or runtime's own message that identifies the failure. `pinned_limit`
returns the limit that explains a cell that is not ok, or None: a cell failing any other way is
new and needs a look (`benchmarks/export_matrix.py` exits 1 on one). tests/test_known_limits.py
exports a pinned converter failure and checks it still fails this way, so a converter release that
fixes it fails that test and the entry goes; a limit caused by the weights is checked on its cause.
docs/formats.md explains each in prose.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

from harness.export.base import ARTIFACT_EXPORT_FAILED, ARTIFACT_NUMERICS_FAILED, ARTIFACT_OK, Artifact


@dataclass(frozen=True)
class KnownLimit:
    models: str  # glob over model names
    format: str
    status: str
    message: str  # a piece of the reason that identifies this failure
    why: str  # the operator, the format, and the cause, in one sentence

    def explains(self, artifact: Artifact) -> bool:
        return (fnmatch.fnmatchcase(artifact.model, self.models) and artifact.format == self.format
                and artifact.status == self.status and self.message in artifact.reason)


KNOWN_LIMITS: tuple[KnownLimit, ...] = (
    KnownLimit(
        models="edgenext_*",
        format="tflite-int8",
        status=ARTIFACT_NUMERICS_FAILED,
        message="(DIV) failed to invoke",
        why="EdgeNeXt's XCA L2-normalises q and k (x / max(|x|, eps)); static int8 rounds small "
            "norms to the zero point and LiteRT's int8 DIV kernel refuses a zero denominator, so "
            "the model converts but cannot run; use tflite or tflite-fp16 for EdgeNeXt",
    ),
    KnownLimit(
        models="convnext_tiny",
        format="tflite-int8",
        status=ARTIFACT_EXPORT_FAILED,
        message="invalid quantization parameters",
        why="litert-torch 0.10.0 folds the layer scale into the second FULLY_CONNECTED of each "
            "channels-last MLP block and writes its bias as a 1x1x1xC tensor; ai-edge-quantizer "
            "0.10.0 gives that bias C per-axis scales along dimension 0 (of size 1) and its own "
            "validation refuses them (18 blocks, 18 such tensors); atto..nano build the MLP as 1x1 "
            "convolutions and are not affected; for convnext_tiny use tflite, tflite-fp16 or "
            "executorch-int8",
    ),
    *(KnownLimit(
        models="repvit_m2_3",
        format=fmt,
        status=ARTIFACT_NUMERICS_FAILED,
        message="outputs disagree with eager: cosine",
        why="a property of the random weights, not of a converter: their BatchNorm statistics "
            "compound over stage 3's 34 blocks, and seven of its block outputs have a largest value "
            "20-23x their standard deviation (repvit_m1_5 peaks once at 17, repvit_m0_9 at 12); "
            "a per-tensor int8 activation then has ~5 steps per standard deviation, and the error "
            "adds up to cosine 0.90-0.95 in both int8 runtimes (32 calibration inputs instead of "
            "8 do not help); use executorch, tflite or tflite-fp16 for this random-weight model",
    ) for fmt in ("executorch-int8", "tflite-int8")),
)


def pinned_limit(artifact: Artifact) -> KnownLimit | None:
    """The known limit that explains this cell, or None (an ok cell needs none)."""
    if artifact.status == ARTIFACT_OK:
        return None
    return next((limit for limit in KNOWN_LIMITS if limit.explains(artifact)), None)
