"""RepViT: Revisiting Mobile CNN From ViT Perspective (Wang et al., CVPR 2024).

Paper: https://arxiv.org/abs/2307.09283
Official code: https://github.com/THU-MIG/RepViT (model/repvit.py); timm's `repvit.py` follows it.

A MobileNetV3-style CNN rebuilt with ViT macro design: separate token mixer (re-parameterisable
depthwise conv, optional SE) and channel mixer (residual 1x1 FFN), a two-conv stem, and a deeper
downsampling block. Everything is conv + BatchNorm, so the deploy form is plain convs: every BN
folds into its conv, the token mixer's three branches fold into one depthwise conv, and the
classifier's BN folds into its linear layer with the distillation head averaged in.

Stage layout follows timm, not the official flat config list: the last stride-1 block before
each downsampling (always without SE) belongs to the next stage's `RepViTDownsample` as its
`pre_block`, so `depth` counts only the blocks after the downsampling. The official m0_9 list
(3 blocks at 48, stride 2, 3 at 96, stride 2, 15 at 192, stride 2, 2 at 384) is depth (2, 2, 14, 2).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from harness.zoo.layers import (
    ConvBN,
    SqueezeExcite,
    fold_bn_into_conv,
    fold_bn_into_linear,
    make_divisible,
)
from harness.zoo.registry import register_model


class RepVggDw(nn.Module):
    """Token mixer: BN(DW kxk ConvBN(x) + DW 1x1 conv(x) + x), fused into one DW kxk conv.

    This is the current official form (the 1x1 branch is a plain conv with bias and one BN follows
    the sum). timm's `legacy=True` form for the older m1/m2/m3 checkpoints has a ConvBN 1x1 branch
    and no BN after the sum; both fuse to the same deploy conv, so the deploy counts agree.
    """

    def __init__(self, dim: int, kernel_size: int = 3):
        super().__init__()
        self.conv = ConvBN(dim, dim, kernel_size, groups=dim)
        self.conv1 = nn.Conv2d(dim, dim, 1, groups=dim, bias=True)
        self.bn = nn.BatchNorm2d(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x) + self.conv1(x) + x)

    @torch.no_grad()
    def fuse(self) -> nn.Conv2d:
        conv = self.conv.fuse()
        center = conv.kernel_size[0] // 2
        # The 1x1 kernel sits at the centre tap of the kxk kernel; the identity is a 1 there.
        weight = conv.weight + F.pad(self.conv1.weight, [center] * 4)
        weight[:, 0, center, center] += 1.0
        conv.weight.copy_(weight)
        conv.bias.add_(self.conv1.bias)
        return fold_bn_into_conv(conv, self.bn)


class ConvMlp(nn.Module):
    """Channel mixer: 1x1 ConvBN, GELU, 1x1 ConvBN (the caller adds the residual).

    The last BN's weight starts at 0 as in the official code, so a fresh block's FFN branch is
    exactly zero until trained.
    """

    def __init__(self, dim: int, hidden_dim: int):
        super().__init__()
        self.conv1 = ConvBN(dim, hidden_dim, 1)
        self.act = nn.GELU()
        self.conv2 = ConvBN(hidden_dim, dim, 1, bn_weight_init=0.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.act(self.conv1(x)))


def _squeeze_excite(dim: int) -> SqueezeExcite:
    # timm's SqueezeExcite(dim, 0.25): reduced width rounded to a multiple of 8, ReLU, sigmoid gate.
    return SqueezeExcite(dim, make_divisible(dim * 0.25, 8))


class RepViTBlock(nn.Module):
    """Token mixer (RepVGG depthwise), optional SE, then residual channel mixer."""

    def __init__(self, dim: int, mlp_ratio: float, kernel_size: int, use_se: bool):
        super().__init__()
        self.token_mixer = RepVggDw(dim, kernel_size)
        self.se = _squeeze_excite(dim) if use_se else nn.Identity()
        self.channel_mixer = ConvMlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.se(self.token_mixer(x))
        return x + self.channel_mixer(x)


class RepViTStem(nn.Sequential):
    """Two 3x3 stride-2 ConvBN with GELU between: stride 4, channels 3 -> dim/2 -> dim."""

    def __init__(self, in_chans: int, dim: int):
        super().__init__(
            ConvBN(in_chans, dim // 2, 3, stride=2),
            nn.GELU(),
            ConvBN(dim // 2, dim, 3, stride=2),
        )


class RepViTDownsample(nn.Module):
    """Previous stage's last block (no SE), stride-2 DW ConvBN, 1x1 ConvBN, residual FFN."""

    def __init__(self, in_dim: int, out_dim: int, mlp_ratio: float, kernel_size: int):
        super().__init__()
        self.pre_block = RepViTBlock(in_dim, mlp_ratio, kernel_size, use_se=False)
        self.spatial_downsample = ConvBN(in_dim, in_dim, kernel_size, stride=2, groups=in_dim)
        self.channel_downsample = ConvBN(in_dim, out_dim, 1)
        self.ffn = ConvMlp(out_dim, int(out_dim * mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pre_block(x)
        x = self.channel_downsample(self.spatial_downsample(x))
        return x + self.ffn(x)


class RepViTStage(nn.Sequential):
    """Optional downsampling, then `depth` blocks with SE on every other one (first has SE)."""

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        depth: int,
        mlp_ratio: float,
        kernel_size: int,
        downsample: bool,
    ):
        layers: list[nn.Module] = []
        if downsample:
            layers.append(RepViTDownsample(in_dim, out_dim, mlp_ratio, kernel_size))
        for i in range(depth):
            layers.append(RepViTBlock(out_dim, mlp_ratio, kernel_size, use_se=i % 2 == 0))
        super().__init__(*layers)


class NormLinear(nn.Sequential):
    """BatchNorm1d then Linear; fuses into one Linear."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__(nn.BatchNorm1d(in_features), nn.Linear(in_features, out_features))
        nn.init.trunc_normal_(self[1].weight, std=0.02)
        nn.init.zeros_(self[1].bias)

    @torch.no_grad()
    def fuse(self) -> nn.Linear:
        return fold_bn_into_linear(self[0], self[1])


class RepViTClassifier(nn.Module):
    """Main head and distillation head, averaged; the deploy form is one Linear.

    The official head returns both logits while training; this zoo never trains, so the forward
    is always the inference average (a linear map, hence exactly one fused Linear).
    """

    def __init__(self, dim: int, num_classes: int, distillation: bool = True):
        super().__init__()
        self.head = NormLinear(dim, num_classes)
        self.head_dist = NormLinear(dim, num_classes) if distillation else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.head_dist is None:
            return self.head(x)
        return (self.head(x) + self.head_dist(x)) / 2

    @torch.no_grad()
    def fuse(self) -> nn.Linear:
        head = self.head.fuse()
        if self.head_dist is not None:
            head_dist = self.head_dist.fuse()
            head.weight.add_(head_dist.weight).div_(2)
            head.bias.add_(head_dist.bias).div_(2)
        return head


class RepViT(nn.Module):
    def __init__(
        self,
        embed_dim: tuple[int, ...],
        depth: tuple[int, ...],
        mlp_ratio: float = 2.0,
        kernel_size: int = 3,
        in_chans: int = 3,
        num_classes: int = 1000,
        distillation: bool = True,
    ):
        super().__init__()
        self.stem = RepViTStem(in_chans, embed_dim[0])
        stages = []
        in_dim = embed_dim[0]
        for i, (dim, stage_depth) in enumerate(zip(embed_dim, depth)):
            stages.append(
                RepViTStage(in_dim, dim, stage_depth, mlp_ratio, kernel_size, downsample=i > 0)
            )
            in_dim = dim
        self.stages = nn.Sequential(*stages)
        self.head = RepViTClassifier(embed_dim[-1], num_classes, distillation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.stem(x))
        # keepdim: XNNPACK delegates a global mean only in this form.
        return self.head(x.mean((2, 3), keepdim=True).flatten(1))


def _create_repvit(**cfg) -> RepViT:
    return RepViT(**cfg)


_COUNTING_NOTE = (
    "params on the deploy form (all BN folded, token mixer fused to one DW 3x3 conv, distillation "
    "head averaged into one Linear), as the README's 'params after fusion, single head'; MACs "
    "FlopCounterMode on the same form"
)


@register_model("RepViT", input_size=224, counting_note=_COUNTING_NOTE, params_form="deploy")
def repvit_m0_9():
    return _create_repvit(embed_dim=(48, 96, 192, 384), depth=(2, 2, 14, 2))


@register_model("RepViT", input_size=224, counting_note=_COUNTING_NOTE, params_form="deploy")
def repvit_m1_0():
    return _create_repvit(embed_dim=(56, 112, 224, 448), depth=(2, 2, 14, 2))


@register_model("RepViT", input_size=224, counting_note=_COUNTING_NOTE, params_form="deploy")
def repvit_m1_1():
    return _create_repvit(embed_dim=(64, 128, 256, 512), depth=(2, 2, 12, 2))


@register_model("RepViT", input_size=224, counting_note=_COUNTING_NOTE, params_form="deploy")
def repvit_m1_5():
    return _create_repvit(embed_dim=(64, 128, 256, 512), depth=(4, 4, 24, 4))


@register_model("RepViT", input_size=224, counting_note=_COUNTING_NOTE, params_form="deploy")
def repvit_m2_3():
    return _create_repvit(embed_dim=(80, 160, 320, 640), depth=(6, 6, 34, 2))
