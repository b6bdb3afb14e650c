"""Parameter and MAC counts, by the convention published.csv uses.

MACs are FLOPs / 2 from `torch.utils.flop_counter.FlopCounterMode` on the deploy form, batch 1,
at the listed input size. FlopCounterMode counts matmuls and convolutions only (not norms,
activations or softmax), which is the convention the papers' fvcore/thop counts follow.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def count_macs(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    x = torch.zeros(input_shape)
    counter = FlopCounterMode(display=False)
    with counter:
        model(x)
    return counter.get_total_flops() // 2


# fvcore's per-element charges for the operators it counts beyond matmuls and convolutions:
# BatchNorm in eval (scale and shift), LayerNorm with affine terms, global average pooling.
_FVCORE_PER_ELEMENT = {
    "_native_batch_norm_legit_no_training": 2,
    "native_batch_norm": 2,
    "native_layer_norm": 5,
}


class _FvcoreExtras(TorchDispatchMode):
    """Adds fvcore's charges for norms and global pooling, which FlopCounterMode leaves out."""

    def __init__(self):
        super().__init__()
        self.macs = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = func.overloadpacket.__name__
        first = args[0] if args else None
        if name in _FVCORE_PER_ELEMENT and isinstance(first, torch.Tensor):
            self.macs += _FVCORE_PER_ELEMENT[name] * first.numel()
        elif name in ("mean", "adaptive_avg_pool2d") and isinstance(first, torch.Tensor) \
                and first.dim() == 4 and _is_global_pool(func, args):
            self.macs += first.numel()  # fvcore: 1 per pooled input element
        return func(*args, **kwargs)


def _is_global_pool(func, args) -> bool:
    if func.overloadpacket.__name__ == "adaptive_avg_pool2d":
        return tuple(args[1]) == (1, 1)
    dims = args[1] if len(args) > 1 else None
    return dims is not None and sorted(d % 4 for d in dims) == [2, 3]


@torch.no_grad()
def count_macs_fvcore(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """MACs as fvcore counts them on an eval model: FlopCounterMode's matmuls and convolutions,
    plus 2 per BatchNorm element, 5 per LayerNorm element and 1 per globally pooled element.

    Mobile-Former's published MACs (26.0M .. 510.6M) are this count of the unfused model.
    """
    x = torch.zeros(input_shape)
    counter = FlopCounterMode(display=False)
    extras = _FvcoreExtras()
    with counter, extras:
        model(x)
    return counter.get_total_flops() // 2 + extras.macs
