"""MobileNetV2 and MobileNetV3-Large, the standard (torchvision/timm) definitions at width 1.0.

MobileNetV2: "MobileNetV2: Inverted Residuals and Linear Bottlenecks", Sandler et al., CVPR 2018,
https://arxiv.org/abs/1801.04381.
MobileNetV3: "Searching for MobileNetV3", Howard et al., ICCV 2019,
https://arxiv.org/abs/1905.02244.
Official code: https://github.com/tensorflow/models/tree/master/research/slim/nets/mobilenet;
the PyTorch references are torchvision's `mobilenetv2.py` / `mobilenetv3.py` and timm's
`mobilenetv3.py` / `_efficientnet_builder.py` (`mobilenetv2_100`, `mobilenetv3_large_100`).

Both are stacks of one block, the inverted residual: 1x1 expansion (skipped when it would not
change the width), depthwise kxk, optional squeeze-excite, linear 1x1 projection, residual when
the shape is kept. V2 uses ReLU6 everywhere and a 1x1 conv to 1280 channels before the pool; V3
mixes ReLU and hard-swish, uses SE with a hard-sigmoid gate, and has a 960-channel 1x1 conv before
the pool and a 960 -> 1280 linear layer after it. Everything is conv + BN: every BN folds into its
conv in the deploy form. Classifier dropout is omitted (it is the identity in eval mode).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from harness.zoo.layers import ConvBN, ConvBNAct, SqueezeExcite, make_divisible
from harness.zoo.registry import register_model


class HardSigmoid(nn.Module):
    """relu6(x + 3) / 6, the same function as nn.Hardsigmoid (bit-identical in eager).

    Written out because ExecuTorch's XNNPACK lowering of aten.hardsigmoid leaves two
    `_to_dim_order_copy` ops outside the delegate per use (16 in MobileNetV3-Large); this form is
    delegated whole.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu6(x + 3.0) / 6.0


class BlockCfg(NamedTuple):
    """One inverted residual: kernel, expanded width, out width, SE or not, activation, stride."""

    kernel_size: int
    mid_ch: int
    out_ch: int
    use_se: bool
    act: type[nn.Module]
    stride: int


class InvertedResidual(nn.Module):
    """[1x1 expand] -> DW kxk -> [SE] -> 1x1 project (no activation) -> [+ input]."""

    def __init__(self, in_ch: int, cfg: BlockCfg):
        super().__init__()
        layers: list[nn.Module] = []
        if cfg.mid_ch != in_ch:
            layers.append(ConvBNAct(in_ch, cfg.mid_ch, 1, act=cfg.act))
        depthwise = ConvBNAct(
            cfg.mid_ch, cfg.mid_ch, cfg.kernel_size, cfg.stride, groups=cfg.mid_ch, act=cfg.act
        )
        layers.append(depthwise)
        if cfg.use_se:
            # V3's SE: a quarter of the expanded width rounded to a multiple of 8, ReLU inside,
            # hard-sigmoid gate (torchvision `_make_divisible(c // 4, 8)`, timm `round_channels`).
            rd_ch = make_divisible(cfg.mid_ch // 4, 8)
            layers.append(SqueezeExcite(cfg.mid_ch, rd_ch, act=nn.ReLU, gate=HardSigmoid))
        layers.append(ConvBN(cfg.mid_ch, cfg.out_ch, 1))
        self.conv = nn.Sequential(*layers)
        self.use_residual = cfg.stride == 1 and in_ch == cfg.out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_residual else self.conv(x)


class MobileNet(nn.Module):
    """Stem conv, inverted residuals, 1x1 head conv, pool, [hidden linear + act], classifier."""

    def __init__(
        self,
        blocks: tuple[BlockCfg, ...],
        stem_ch: int,
        head_conv_ch: int,
        act: type[nn.Module],
        head_hidden_ch: int | None = None,
        num_classes: int = 1000,
    ):
        super().__init__()
        self.stem = ConvBNAct(3, stem_ch, 3, stride=2, act=act)
        layers = []
        in_ch = stem_ch
        for cfg in blocks:
            layers.append(InvertedResidual(in_ch, cfg))
            in_ch = cfg.out_ch
        self.blocks = nn.Sequential(*layers)
        self.head_conv = ConvBNAct(in_ch, head_conv_ch, 1, act=act)
        if head_hidden_ch is None:
            self.pre_logits = nn.Identity()
            classifier_in = head_conv_ch
        else:
            self.pre_logits = nn.Sequential(nn.Linear(head_conv_ch, head_hidden_ch), act())
            classifier_in = head_hidden_ch
        self.classifier = nn.Linear(classifier_in, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head_conv(self.blocks(self.stem(x)))
        # keepdim + flatten: XNNPACK takes a 4-D mean only with keepdim, else it runs undelegated.
        x = x.mean((2, 3), keepdim=True).flatten(1)
        return self.classifier(self.pre_logits(x))


def _v2_blocks(stages: tuple[tuple[int, int, int, int], ...], stem_ch: int) -> tuple[BlockCfg, ...]:
    """Expand V2's (expansion, out channels, repeats, first stride) rows into per-block configs."""
    blocks = []
    in_ch = stem_ch
    for expansion, out_ch, repeats, stride in stages:
        for i in range(repeats):
            block_stride = stride if i == 0 else 1
            blocks.append(BlockCfg(3, in_ch * expansion, out_ch, False, nn.ReLU6, block_stride))
            in_ch = out_ch
    return tuple(blocks)


def _create_mobilenetv2(stages, stem_ch: int, head_conv_ch: int) -> MobileNet:
    return MobileNet(_v2_blocks(stages, stem_ch), stem_ch, head_conv_ch, act=nn.ReLU6)


def _create_mobilenetv3(blocks, stem_ch: int, head_conv_ch: int, head_hidden_ch: int) -> MobileNet:
    return MobileNet(blocks, stem_ch, head_conv_ch, act=nn.Hardswish, head_hidden_ch=head_hidden_ch)


# The MobileNetV3 paper's abbreviations in its architecture tables (Tables 1 and 2).
RE, HS = nn.ReLU, nn.Hardswish


@register_model(
    "MobileNet",
    input_size=224,
    counting_note=(
        "Checked exactly against the reference implementations (torchvision/timm) that later "
        "papers compare against: 3,504,872 params in the training form (3,487,816 deployed). "
        "The paper prints 3.4M, which reads as that count truncated: no standard counting of "
        "the standard model comes within 1% of 3.4M. MACs match (300.8M vs 300M)."
    ),
    exact_params=3_504_872,
    params_form="train",
)
def mobilenetv2_100():
    return _create_mobilenetv2(
        # expansion, out channels, repeats, stride of the first block
        stages=(
            (1, 16, 1, 1),
            (6, 24, 2, 2),
            (6, 32, 3, 2),
            (6, 64, 4, 2),
            (6, 96, 3, 1),
            (6, 160, 3, 2),
            (6, 320, 1, 1),
        ),
        stem_ch=32,
        head_conv_ch=1280,
    )


@register_model(
    "MobileNet",
    input_size=224,
    counting_note=(
        "Checked exactly against the reference implementations (torchvision/timm): 5,483,032 "
        "params in the training form (5,470,832 deployed); the paper's 5.4M reads as a "
        "truncation (timm lists 5.5M). MACs 216.6M vs 219M published (-1.1%): the paper's "
        "MAdds also charge non-conv work (e.g. the SE gating multiply)."
    ),
    exact_params=5_483_032,
    params_form="train",
)
def mobilenetv3_large_100():
    return _create_mobilenetv3(
        blocks=(
            # kernel, expanded width, out width, SE, activation, stride
            BlockCfg(3, 16, 16, False, RE, 1),
            BlockCfg(3, 64, 24, False, RE, 2),
            BlockCfg(3, 72, 24, False, RE, 1),
            BlockCfg(5, 72, 40, True, RE, 2),
            BlockCfg(5, 120, 40, True, RE, 1),
            BlockCfg(5, 120, 40, True, RE, 1),
            BlockCfg(3, 240, 80, False, HS, 2),
            BlockCfg(3, 200, 80, False, HS, 1),
            BlockCfg(3, 184, 80, False, HS, 1),
            BlockCfg(3, 184, 80, False, HS, 1),
            BlockCfg(3, 480, 112, True, HS, 1),
            BlockCfg(3, 672, 112, True, HS, 1),
            BlockCfg(5, 672, 160, True, HS, 2),
            BlockCfg(5, 960, 160, True, HS, 1),
            BlockCfg(5, 960, 160, True, HS, 1),
        ),
        stem_ch=16,
        head_conv_ch=960,
        head_hidden_ch=1280,
    )
