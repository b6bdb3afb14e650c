"""The model zoo: one file per family, all registered in `registry`."""

from harness.zoo.registry import (  # noqa: F401
    ModelSpec,
    PublishedFacts,
    create_model,
    families,
    fuse_model,
    get_spec,
    list_models,
    register_model,
)
from harness.zoo.resolve import resolve_models  # noqa: F401
