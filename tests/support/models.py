"""Model helpers the zoo's tests share."""

import torch
from torch import nn


def randomise_batchnorms(module: nn.Module) -> None:
    """Wide random BN statistics and affine terms, so a wrong fold cannot hide behind identity BNs."""
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
