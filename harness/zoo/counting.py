"""Parameter and MAC counts, by the convention published.csv uses.

MACs are FLOPs / 2 from `torch.utils.flop_counter.FlopCounterMode` on the deploy form, batch 1,
at the listed input size. FlopCounterMode counts matmuls and convolutions only (not norms,
activations or softmax), which is the convention the papers' fvcore/thop counts follow.
"""

from __future__ import annotations

import torch
from torch import nn
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
