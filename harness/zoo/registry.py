"""The zoo's registry: model name -> factory, input size and published facts.

A family file registers one tiny function per variant with `@register_model(...)`; the function
body is data (dims, depths) handed to the family's private `_create_<family>()`. The family
modules are listed in `FAMILY_MODULES` and imported on first use: a new family is one new file
and one entry there.

Published facts (params, MACs, top-1, latency and the device it was measured on) live in
`published.csv` beside this file, a copy of the project's reference table, and are joined by
name. `counting_note` says which counting convention a variant matched where the published
number is rounded or ambiguous.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

from harness.errors import UnknownModelError
from harness.zoo.published import PublishedFacts, published_facts
from harness.zoo.weights import load_weights

# The family modules, one per family, each registering its variants on import.
FAMILY_MODULES = ("repvit", "convnext", "edgenext", "mobileformer", "emo", "mobilenet", "mobilevit",
                  "shufflenet")


@dataclass(frozen=True)
class ModelSpec:
    """A named, buildable model: everything the later stages need to know about it."""

    name: str
    family: str
    input_size: int
    factory: Callable[[], nn.Module] = field(compare=False, repr=False)
    published: PublishedFacts | None = None
    counting_note: str = ""
    # Reference counts where zoo-notes gives them (params exactly; MACs as printed, to 0.1M);
    # None otherwise, and published.csv is the reference.
    exact_params: int | None = None
    exact_macs: int | None = None
    # How MACs are counted for the check: "flop_counter" (matmuls and convolutions of the deploy
    # form, harness.zoo.counting.count_macs) or "fvcore" (the training form, norms and global
    # pooling charged too, count_macs_fvcore), whichever the published figure used.
    macs_convention: str = "flop_counter"
    # Which form the published parameter count refers to: "deploy" (fused) or "train".
    params_form: str = "deploy"
    # Where the spec came from: "zoo", a file path, a module path or "timm".
    origin: str = "zoo"
    # A local state dict (.pth/.pt/.safetensors) of the training form, loaded instead of random weights.
    weights: str | None = None
    input_channels: int = 3
    # How `--models` named it, enough for another process to resolve the same spec: the zoo
    # name, or an external reference with its file made absolute ("/abs/net.py:build").
    reference: str = ""
    # Artifact files given as they are (origin "file", harness.export.given): their whole input
    # shape (from their signature: NHWC or any other), (format, absolute path) of each file of
    # this model, and the file their outputs are checked against (--numerics-reference), if any.
    shape: tuple[int, ...] | None = None
    given: tuple[tuple[str, str], ...] = ()
    numerics_reference: str = ""

    @property
    def input_shape(self) -> tuple[int, ...]:
        if self.shape is not None:
            return tuple(self.shape)
        return (1, self.input_channels, self.input_size, self.input_size)

    @property
    def is_given(self) -> bool:
        """Artifact files measured as they are: nothing to build or export."""
        return bool(self.given)

    def given_path(self, format_name: str) -> str:
        return dict(self.given)[format_name]

    def source_digest_inputs(self) -> list[str]:
        """Files that define this model (source and weights); a change to any changes the artifact."""
        files = []
        try:
            files.append(inspect.getsourcefile(self.factory) or "")
        except TypeError:
            pass
        if self.weights:
            files.append(self.weights)
        return [f for f in files if f]


_REGISTRY: dict[str, ModelSpec] = {}
_LOADED = False


def register_model(
    family: str,
    input_size: int = 224,
    counting_note: str = "",
    exact_params: int | None = None,
    exact_macs: int | None = None,
    params_form: str = "deploy",
    macs_convention: str = "flop_counter",
):
    """Register the decorated zero-argument function under its own name."""

    def decorate(fn: Callable[[], nn.Module]) -> Callable[[], nn.Module]:
        name = fn.__name__
        if name in _REGISTRY:
            raise ValueError(f"Model {name!r} is registered twice.")
        _REGISTRY[name] = ModelSpec(
            name=name,
            family=family,
            input_size=input_size,
            factory=fn,
            published=published_facts().get(name),
            counting_note=counting_note,
            exact_params=exact_params,
            exact_macs=exact_macs,
            params_form=params_form,
            macs_convention=macs_convention,
        )
        return fn

    return decorate


def _load_families() -> None:
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    for module in FAMILY_MODULES:
        importlib.import_module(f"harness.zoo.{module}")


def list_models(family: str | None = None) -> list[ModelSpec]:
    _load_families()
    specs = sorted(_REGISTRY.values(), key=lambda s: (s.family.lower(), s.name))
    if family:
        wanted = family.lower()
        specs = [s for s in specs if s.family.lower() == wanted]
    return specs


def families() -> list[str]:
    return sorted({s.family for s in list_models()}, key=str.lower)


def get_spec(name: str) -> ModelSpec:
    _load_families()
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=3, cutoff=0.5)
        raise UnknownModelError(name, close) from None


def fuse_model(model: nn.Module) -> nn.Module:
    """Return the deploy form: every module with `fuse()` replaced by what it returns.

    One protocol only: `fuse(self) -> nn.Module` receives the training form of itself (children
    not yet fused) and returns a plain module. The walk is pre-order, so a parent fuses its own
    children as it likes; the walk then continues into what it returned.
    """
    if hasattr(model, "fuse") and callable(model.fuse):
        model = model.fuse()
    for name, child in list(model.named_children()):
        setattr(model, name, fuse_model(child))
    return model


@torch.no_grad()
def _randomise_vanishing_parameters(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
            if m.affine:
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.1, 0.1)
    for name, p in model.named_parameters():
        if name.rsplit(".", 1)[-1] == "gamma" and p.dim() == 1:
            p.uniform_(0.2, 0.5)


def create_model(spec: ModelSpec | str, seed: int = 0, deploy: bool = True) -> nn.Module:
    """Build a model with seeded random weights, in eval mode, fused unless `deploy=False`.

    Beyond the family's own initialisation, every BatchNorm gets random statistics, scale and
    shift, and every layer-scale parameter (named `gamma` by convention in every family) a value
    in [0.2, 0.5]. The usual inits (BN scale 0 at the end of a residual branch, layer scale 1e-6)
    make branches vanish, and then neither the train-vs-deploy check nor the eager-vs-export
    numerics check would test those branches at all. Latency does not depend on the values.
    """
    if isinstance(spec, str):
        spec = get_spec(spec)
    torch.manual_seed(seed)
    model = spec.factory()
    if spec.weights:
        load_weights(model, spec.weights)
    elif spec.origin == "zoo":
        _randomise_vanishing_parameters(model)
    model.eval()
    if deploy:
        model = fuse_model(model)
        model.eval()
    return model
