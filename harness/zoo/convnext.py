"""ConvNeXt: A ConvNet for the 2020s (Liu et al., CVPR 2022).

Paper: https://arxiv.org/abs/2201.03545
Official code: https://github.com/facebookresearch/ConvNeXt (models/convnext.py). The small
atto/femto/pico/nano variants are timm originals (huggingface/pytorch-image-models,
timm/models/convnext.py); tiny is the paper's smallest model.

Patchify stem (4x4 stride-4 conv + LayerNorm), four stages separated by LayerNorm + 2x2 stride-2
conv, blocks of DW 7x7 conv, LayerNorm, MLP x4 with GELU, layer scale and residual (stochastic
depth is training-only and left out). There is no BatchNorm, so the deploy form is the model as
built: nothing to fuse.

timm builds atto..nano with `conv_mlp=True` (the MLP as 1x1 convs on NCHW with a channels-first
LayerNorm, no permutes) and tiny with the official channels-last form (permute to NHWC,
LayerNorm, Linear layers, permute back). The two are the same function with the same parameter
and MAC counts; we keep timm's choice per variant because it changes the exported graph.
"""

from __future__ import annotations

from functools import partial

import torch
from torch import nn

from harness.zoo.layers import LayerNorm2d
from harness.zoo.registry import register_model

# ConvNeXt uses eps 1e-6 in every LayerNorm, not PyTorch's default 1e-5.
_LN_EPS = 1e-6


class Mlp(nn.Module):
    """fc1, GELU, fc2: Linear layers on NHWC, or 1x1 convs on NCHW when `use_conv`."""

    def __init__(self, dim: int, hidden_dim: int, use_conv: bool):
        super().__init__()
        linear = partial(nn.Conv2d, kernel_size=1) if use_conv else nn.Linear
        self.fc1 = linear(dim, hidden_dim)
        self.act = nn.GELU()
        self.fc2 = linear(hidden_dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class ConvNeXtBlock(nn.Module):
    """DW 7x7, LayerNorm, MLP, layer scale, residual."""

    def __init__(
        self,
        dim: int,
        mlp_ratio: float = 4.0,
        ls_init_value: float = 1e-6,
        conv_mlp: bool = False,
    ):
        super().__init__()
        self.conv_mlp = conv_mlp
        self.conv_dw = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.norm = LayerNorm2d(dim, eps=_LN_EPS) if conv_mlp else nn.LayerNorm(dim, eps=_LN_EPS)
        self.mlp = Mlp(dim, int(mlp_ratio * dim), use_conv=conv_mlp)
        self.gamma = nn.Parameter(torch.full((dim,), ls_init_value))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        x = self.conv_dw(x)
        if self.conv_mlp:
            x = self.mlp(self.norm(x))
        else:
            x = self.mlp(self.norm(x.permute(0, 2, 3, 1))).permute(0, 3, 1, 2)
        return shortcut + x * self.gamma.reshape(1, -1, 1, 1)


class ConvNeXtStage(nn.Sequential):
    """Optional LayerNorm + 2x2 stride-2 conv, then `depth` blocks."""

    def __init__(self, in_dim: int, out_dim: int, depth: int, downsample: bool, **block_kwargs):
        layers: list[nn.Module] = []
        if downsample:
            layers.append(
                nn.Sequential(
                    LayerNorm2d(in_dim, eps=_LN_EPS),
                    nn.Conv2d(in_dim, out_dim, kernel_size=2, stride=2),
                )
            )
        layers += [ConvNeXtBlock(out_dim, **block_kwargs) for _ in range(depth)]
        super().__init__(*layers)


class ConvNeXt(nn.Module):
    def __init__(
        self,
        depths: tuple[int, ...],
        dims: tuple[int, ...],
        conv_mlp: bool = False,
        ls_init_value: float = 1e-6,
        patch_size: int = 4,
        in_chans: int = 3,
        num_classes: int = 1000,
    ):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_chans, dims[0], kernel_size=patch_size, stride=patch_size),
            LayerNorm2d(dims[0], eps=_LN_EPS),
        )
        stages = []
        in_dim = dims[0]
        for i, (dim, depth) in enumerate(zip(dims, depths)):
            stages.append(
                ConvNeXtStage(
                    in_dim,
                    dim,
                    depth,
                    downsample=i > 0,
                    conv_mlp=conv_mlp,
                    ls_init_value=ls_init_value,
                )
            )
            in_dim = dim
        self.stages = nn.Sequential(*stages)
        # Head: global average pool, then LayerNorm and Linear on the pooled vector.
        self.head_norm = nn.LayerNorm(dims[-1], eps=_LN_EPS)
        self.head = nn.Linear(dims[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.stem(x))
        # keepdim: XNNPACK delegates a global mean only in this form.
        return self.head(self.head_norm(x.mean((2, 3), keepdim=True).flatten(1)))


def _create_convnext(**cfg) -> ConvNeXt:
    return ConvNeXt(**cfg)


_COUNTING_NOTE = (
    "no BatchNorm, so train and deploy forms are the same model; counts include LayerNorm affine "
    "and layer-scale parameters (timm's count). conv_mlp (1x1 convs) and the channels-last Linear "
    "form give identical params and MACs; timm's choice is kept per variant"
)


@register_model("ConvNeXt", input_size=224, counting_note=_COUNTING_NOTE, params_form="deploy")
def convnext_atto():
    return _create_convnext(depths=(2, 2, 6, 2), dims=(40, 80, 160, 320), conv_mlp=True)


@register_model("ConvNeXt", input_size=224, counting_note=_COUNTING_NOTE, params_form="deploy")
def convnext_femto():
    return _create_convnext(depths=(2, 2, 6, 2), dims=(48, 96, 192, 384), conv_mlp=True)


@register_model("ConvNeXt", input_size=224, counting_note=_COUNTING_NOTE, params_form="deploy")
def convnext_pico():
    return _create_convnext(depths=(2, 2, 6, 2), dims=(64, 128, 256, 512), conv_mlp=True)


@register_model("ConvNeXt", input_size=224, counting_note=_COUNTING_NOTE, params_form="deploy")
def convnext_nano():
    return _create_convnext(depths=(2, 2, 8, 2), dims=(80, 160, 320, 640), conv_mlp=True)


@register_model("ConvNeXt", input_size=224, counting_note=_COUNTING_NOTE, params_form="deploy")
def convnext_tiny():
    return _create_convnext(depths=(3, 3, 9, 3), dims=(96, 192, 384, 768))
