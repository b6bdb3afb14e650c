"""The model zoo: one file per family, all registered in `registry`.

Names are imported on first use (PEP 562), so that `harness.zoo.index` and
`harness.zoo.published`, which read no model code, can be imported without torch.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "ModelSpec": "registry",
    "create_model": "registry",
    "families": "registry",
    "fuse_model": "registry",
    "get_spec": "registry",
    "list_models": "registry",
    "register_model": "registry",
    "PublishedFacts": "published",
    "resolve_models": "resolve",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'harness.zoo' has no attribute {name!r}")
    return getattr(importlib.import_module(f"harness.zoo.{_EXPORTS[name]}"), name)
