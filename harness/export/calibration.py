"""Calibration inputs for static int8 quantization, and a record of where they came from.

Two sources:
- `--calibration-images DIR`: image files read with Pillow when it is installed (JPEG, PNG, ...)
  and `.npy` arrays (H,W,3 or 3,H,W; uint8 0..255 or float 0..1) always. Each is resized to the
  model's input with bilinear interpolation and normalised with the ImageNet mean and std, the
  preprocessing every model in the zoo was trained with.
- otherwise seeded standard-normal inputs, the same distribution the numerics check feeds.

The digest of the arrays is part of the cache key of every calibrated format, so other images
give another artifact; `source` is stored in the artifact's details.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from harness.errors import HarnessError

RANDOM_CALIBRATION_INPUTS = 8
RANDOM_CALIBRATION_SEED = 20240  # apart from the numerics check's seed, so the check is not the calibration set
MAX_CALIBRATION_IMAGES = 64
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32).reshape(3, 1, 1)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32).reshape(3, 1, 1)


@dataclass(frozen=True)
class CalibrationSet:
    """Inputs (each of the model's input shape, float32) and where they came from."""

    inputs: tuple[np.ndarray, ...]
    source: str
    digest: str

    def record(self) -> dict:
        return {"source": self.source, "inputs": len(self.inputs), "digest": self.digest}


def _digest(arrays: list[np.ndarray]) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(str(a.shape).encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


def random_calibration(input_shape: tuple[int, ...], count: int = RANDOM_CALIBRATION_INPUTS,
                       seed: int = RANDOM_CALIBRATION_SEED) -> CalibrationSet:
    rng = np.random.default_rng(seed)
    inputs = [rng.standard_normal(input_shape).astype(np.float32) for _ in range(count)]
    return CalibrationSet(tuple(inputs), f"random normal (seed {seed}, {count} inputs)", _digest(inputs))


def _pillow():
    try:
        from PIL import Image
    except ImportError:
        return None
    return Image


def _read_image(path: Path, image_module) -> np.ndarray:
    """An image file or .npy array as float32 CHW in 0..1."""
    if path.suffix.lower() == ".npy":
        array = np.load(path)
        if array.ndim != 3:
            raise HarnessError(f"{path}: a calibration array must be H,W,3 or 3,H,W, not {array.shape}.")
        if array.shape[-1] == 3 and array.shape[0] != 3:
            array = array.transpose(2, 0, 1)
        array = array.astype(np.float32)
        return array / 255.0 if array.max() > 1.0 else array
    with image_module.open(path) as img:
        rgb = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    return rgb.transpose(2, 0, 1)


def _to_model_input(chw: np.ndarray, input_shape: tuple[int, ...]) -> np.ndarray:
    height, width = input_shape[-2:]
    resized = torch.nn.functional.interpolate(
        torch.from_numpy(np.ascontiguousarray(chw))[None], size=(height, width),
        mode="bilinear", align_corners=False, antialias=True,
    )[0].numpy()
    normalised = (resized - IMAGENET_MEAN) / IMAGENET_STD
    return normalised.reshape(input_shape).astype(np.float32)


@functools.lru_cache(maxsize=8)
def image_calibration(directory: Path, input_shape: tuple[int, ...],
                      limit: int = MAX_CALIBRATION_IMAGES) -> CalibrationSet:
    directory = Path(directory)
    if input_shape[1] != 3:
        raise HarnessError(f"--calibration-images are RGB, but this model takes {input_shape[1]} "
                           "input channel(s); leave the option out to calibrate on seeded random inputs.")
    image_module = _pillow()
    wanted = {".npy"} | (IMAGE_SUFFIXES if image_module else set())
    files = sorted(p for p in directory.iterdir() if p.suffix.lower() in wanted)[:limit]
    if not files:
        skipped = "" if image_module else " (Pillow is not installed, so only .npy files are read)"
        raise HarnessError(f"No calibration images in {directory}{skipped}; give a directory of "
                           f"{', '.join(sorted(wanted))} files.")
    inputs = [_to_model_input(_read_image(p, image_module), input_shape) for p in files]
    reader = "Pillow" if image_module and any(p.suffix.lower() != ".npy" for p in files) else "numpy"
    return CalibrationSet(tuple(inputs), f"images {directory} ({len(files)} files, read with {reader})",
                          _digest(inputs))


def calibration_set(directory: Path | None, input_shape: tuple[int, ...]) -> CalibrationSet:
    if directory is None:
        return random_calibration(tuple(input_shape))
    return image_calibration(Path(directory).resolve(), tuple(input_shape))
