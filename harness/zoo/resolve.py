"""`--models`: `all`, a family name, a comma list of names, or external model references."""

from __future__ import annotations

from dataclasses import replace

from harness.errors import HarnessError, UnknownModelError
from harness.zoo.external import external_spec
from harness.zoo.registry import ModelSpec, families, get_spec, list_models


def resolve_models(
    selector: str, input_shape: tuple[int, ...] | None = None, weights: str | None = None
) -> list[ModelSpec]:
    """Turn `all`, a family name, a comma list or external references into specs.

    External references (`file.py:factory`, `pkg.module:factory`, `timm:NAME`) are handled by
    `harness.zoo.external`; they need `input_shape` unless the factory declares one.
    """
    specs: list[ModelSpec] = []
    family_names = {f.lower(): f for f in families()}
    for part in [p.strip() for p in selector.split(",") if p.strip()]:
        if part == "all":
            specs.extend(list_models())
        elif part.lower() in family_names:
            specs.extend(list_models(family_names[part.lower()]))
        elif ":" in part:
            specs.append(external_spec(part, input_shape))
        else:
            specs.append(get_spec(part))
    if not specs:
        raise UnknownModelError(selector, [])
    seen: set[str] = set()
    unique = []
    for s in specs:
        if s.name not in seen:
            seen.add(s.name)
            unique.append(s)
    if weights:
        if len(unique) != 1:
            raise HarnessError(f"--weights belongs to one model, but --models {selector!r} names "
                               f"{len(unique)}; name exactly one.")
        unique = [replace(unique[0], weights=str(weights))]
    return unique
