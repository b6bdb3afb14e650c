"""Models from outside the zoo, named on the command line.

- `path/to/file.py:factory`: a zero-argument function in a Python file.
- `pkg.module:factory`: the same in an importable module.
- `timm:NAME`: a timm model, when timm can be imported (it cannot on machines whose torchvision
  build is broken; then one clear line says so).

The input shape comes from `--input-shape`, or from an `input_shape` attribute on the factory
or on the model it returns. Nothing is downloaded: timm models are built with random weights,
and `--weights FILE` (see `load_weights`) loads a local state dict.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
from pathlib import Path
from typing import Callable

from torch import nn

from harness.errors import HarnessError, UnknownModelError, UsageError
from harness.zoo.registry import ModelSpec


def _load_factory_from_file(path: Path, attr: str) -> Callable[[], nn.Module]:
    if not path.exists():
        raise UsageError(f"Model file {path} does not exist; give `path/to/file.py:factory`.")
    module_name = f"harness_external_{path.stem}_{abs(hash(str(path.resolve()))) % 10**8}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise UsageError(f"Cannot import {path} as Python; give a .py file.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        # Compiled from the file as it is now, never from a cached .pyc: Python trusts its
        # bytecode cache while the source's mtime (to the second) and size are unchanged, so an
        # edit that keeps the size within a second would build the old model under the new
        # source's cache key.
        exec(compile(path.read_bytes(), str(path), "exec"), module.__dict__)
    except Exception as exc:
        raise HarnessError(f"Importing {path} failed: {type(exc).__name__}: {exc}") from None
    if not hasattr(module, attr):
        raise UsageError(f"{path} has no function {attr!r}.")
    return getattr(module, attr)


def _load_factory_from_module(module_path: str, attr: str) -> Callable[[], nn.Module]:
    try:
        module = importlib.import_module(module_path)
    except ImportError as exc:
        raise HarnessError(f"Cannot import module {module_path!r}: {exc}.") from None
    if not hasattr(module, attr):
        raise UsageError(f"Module {module_path!r} has no function {attr!r}.")
    return getattr(module, attr)


def _timm_factory(name: str) -> Callable[[], nn.Module]:
    try:
        # Imported by name, only when asked for: timm is optional and fails to import on
        # machines whose torchvision build is broken.
        timm = importlib.import_module("timm")
    except Exception as exc:  # timm fails at import when torchvision's compiled part is broken
        raise HarnessError(
            f"timm:{name} needs timm, which cannot be imported here ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}); use a zoo model or file.py:factory."
        ) from None
    if name not in timm.list_models():
        raise UnknownModelError(f"timm:{name}", [f"timm:{n}" for n in timm.list_models(f"*{name}*")[:3]])
    return lambda: timm.create_model(name, pretrained=False)


# A timm model's name; a factory is a Python identifier, a module a dotted one. The model's name
# is made of them and becomes file names (the cache's staging directory, the site's pages), so
# none may hold a `/` or start a `..`.
_TIMM_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def _check_names(reference: str, prefix: str, attr: str) -> None:
    if prefix == "timm":
        ok = bool(_TIMM_NAME.match(attr))
    elif prefix.endswith(".py"):
        ok = attr.isidentifier()
    else:
        ok = attr.isidentifier() and all(p.isidentifier() for p in prefix.split("."))
    if not ok:
        raise UsageError(f"Cannot read model reference {reference!r}: a factory is a Python name "
                         "(letters, digits and _), as in file.py:build_model, pkg.module:factory "
                         "or timm:NAME.")


def external_spec(reference: str, input_shape: tuple[int, ...] | None) -> ModelSpec:
    """A ModelSpec for `file.py:factory`, `pkg.module:factory` or `timm:NAME`."""
    prefix, _, attr = reference.rpartition(":")
    if not prefix or not attr:
        raise UsageError(f"Cannot read model reference {reference!r}; use file.py:factory, "
                           "pkg.module:factory or timm:NAME.")
    _check_names(reference, prefix, attr)
    if prefix == "timm":
        factory, origin, name = _timm_factory(attr), "timm", f"timm_{attr}"
    elif prefix.endswith(".py"):
        path = Path(prefix)
        factory, origin, name = _load_factory_from_file(path, attr), str(path.resolve()), f"{path.stem}_{attr}"
        reference = f"{path.resolve()}:{attr}"
    else:
        factory, origin, name = _load_factory_from_module(prefix, attr), prefix, f"{prefix.rsplit('.', 1)[-1]}_{attr}"
    shape = input_shape or getattr(factory, "input_shape", None)
    if shape is None:
        raise UsageError(f"{reference} needs --input-shape (e.g. --input-shape 1,3,224,224).")
    shape = tuple(int(v) for v in shape)
    if len(shape) != 4 or shape[0] != 1 or shape[2] != shape[3] or min(shape) < 1:
        raise UsageError(f"--input-shape {','.join(map(str, shape))} is not 1,C,S,S; "
                           "the harness benchmarks batch 1 square images (C channels, S pixels).")
    return ModelSpec(
        name=name, family="external", input_size=shape[2], factory=factory, origin=origin,
        input_channels=shape[1], reference=reference,
    )
