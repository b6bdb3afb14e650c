"""`--models`: `all`, a family name, a comma list of names, or external model references.

Zoo names and families are matched without regard to case (`RepViT_M0_9`, `repvit`). A zoo
model is built for its own input (the size its paper measured, 3 channels): `--input-shape`
belongs to models from files, and a zoo model given another shape is refused in one line rather
than silently measured at its own.
"""

from __future__ import annotations

from dataclasses import replace

from harness.errors import UnknownModelError, UsageError
from harness.zoo.external import external_spec
from harness.zoo.registry import ModelSpec, families, get_spec, list_models


def _zoo_spec(name: str) -> ModelSpec:
    try:
        return get_spec(name)
    except UnknownModelError as exc:
        if name.lower() == name:
            raise
        try:
            return get_spec(name.lower())
        except UnknownModelError:
            raise exc from None


def _check_zoo_shape(spec: ModelSpec, input_shape: tuple[int, ...] | None) -> None:
    if input_shape is None or spec.origin != "zoo" or tuple(input_shape) == spec.input_shape:
        return
    given = ",".join(map(str, input_shape))
    own = ",".join(map(str, spec.input_shape))
    raise UsageError(f"--input-shape {given} does not apply to zoo model {spec.name}, which is "
                       f"built for {own}; leave --input-shape out (it is for "
                       "path/to/net.py:factory models).")


def resolve_models(
    selector: str, input_shape: tuple[int, ...] | None = None, weights: str | None = None,
    numerics_reference: str | None = None,
) -> list[ModelSpec]:
    """Turn `all`, a family name, a comma list or external references into specs.

    External references (`file.py:factory`, `pkg.module:factory`, `timm:NAME`) are handled by
    `harness.zoo.external`; they need `input_shape` unless the factory declares one. Artifact
    files (`model.tflite`, `.pte`, `.onnx`, `.mlpackage`) by `harness.export.given`: measured
    as they are, checked against `numerics_reference` when one is given.
    """
    from harness.export.given import given_specs, is_given_file

    specs: list[ModelSpec] = []
    family_names = {f.lower(): f for f in families()}
    parts = [p.strip() for p in selector.split(",") if p.strip()]
    files = [p for p in parts if is_given_file(p)]
    if numerics_reference and not files:
        raise UsageError("--numerics-reference checks artifact files given with --models "
                         "(model.tflite, .pte, .onnx, .mlpackage); the zoo and .py models are "
                         "checked against PyTorch itself.")
    if files:
        specs.extend(given_specs(files, input_shape, numerics_reference))
    for part in parts:
        if part in files:
            continue
        if part.lower() == "all":
            specs.extend(list_models())
        elif part.lower() in family_names:
            specs.extend(list_models(family_names[part.lower()]))
        elif ":" in part:
            specs.append(external_spec(part, input_shape))
        elif part.endswith(".py"):
            raise UsageError(f"{part} names a file but not the function that builds the model: "
                               f"give {part}:FUNCTION (a function taking no arguments and "
                               "returning the nn.Module).")
        else:
            specs.append(_zoo_spec(part))
    if not specs:
        raise UnknownModelError(selector, [])
    seen: set[str] = set()
    unique = []
    for s in specs:
        if s.name not in seen:
            seen.add(s.name)
            unique.append(s)
    for s in unique:
        _check_zoo_shape(s, input_shape)
    if weights and any(s.is_given for s in unique):
        raise UsageError("--weights loads a state dict into a PyTorch model; an artifact file "
                         "already holds its weights.")
    if weights:
        if len(unique) != 1:
            raise UsageError(f"--weights belongs to one model, but --models {selector!r} names "
                               f"{len(unique)}; name exactly one.")
        unique = [replace(unique[0], weights=str(weights))]
    return unique
