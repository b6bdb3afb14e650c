"""Local weights for a model (`--weights`): a state dict in a .pth/.pt or .safetensors file.

Loaded strictly into the training form before fusion; a file that does not fit the model is one
line naming the first missing, unexpected or mis-shaped key.
"""

from __future__ import annotations

from pathlib import Path

from torch import nn

from harness.errors import HarnessError


def load_weights(model: nn.Module, path: str | Path) -> nn.Module:
    """Load a local state dict (.pth/.pt or .safetensors) strictly; a key mismatch is one line."""
    import torch

    path = Path(path)
    if not path.exists():
        raise HarnessError(f"Weights file {path} does not exist.")
    if path.suffix == ".safetensors":
        try:
            from safetensors.torch import load_file
        except ImportError:
            raise HarnessError("Reading .safetensors needs `pip install safetensors`.") from None
        state = load_file(str(path))
    else:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
        if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
            state = state["state_dict"]
        elif isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
            state = state["model"]
    if not isinstance(state, dict):
        raise HarnessError(f"{path} does not hold a state dict.")
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    mismatched = sorted(k for k in set(own) & set(state) if tuple(own[k].shape) != tuple(state[k].shape))
    if missing or unexpected or mismatched:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
        if mismatched:
            k = mismatched[0]
            parts.append(f"{len(mismatched)} with other shapes (e.g. {k}: file "
                         f"{tuple(state[k].shape)} vs model {tuple(own[k].shape)})")
        raise HarnessError(f"Weights in {path} do not fit the model: " + "; ".join(parts)
                           + ". Check that the file belongs to this model and variant.")
    model.load_state_dict(state, strict=True)
    return model
