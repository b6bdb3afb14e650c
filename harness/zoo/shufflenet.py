"""ShuffleNetV2, the standard (torchvision/timm-style) definition.

Paper: "ShuffleNet V2: Practical Guidelines for Efficient CNN Architecture Design", Ma et al.,
ECCV 2018, https://arxiv.org/abs/1807.11164.
Official code: https://github.com/megvii-model/ShuffleNet-Series (ShuffleNetV2); torchvision's
`shufflenetv2.py` is the usual PyTorch reference.

A unit splits its channels in two: one half passes through untouched, the other goes through
1x1 conv, 3x3 depthwise conv, 1x1 conv; the halves are concatenated and shuffled so the next unit
mixes them. A downsampling unit instead sends the whole input through two stride-2 branches and
doubles the width. All convs are conv + BN (+ ReLU): every BN folds into its conv in the deploy
form.
"""

from __future__ import annotations

import torch
from torch import nn

from harness.zoo.layers import ConvBN, ConvBNAct, channel_shuffle
from harness.zoo.registry import register_model


class ShuffleUnit(nn.Module):
    """Channel split (or two stride-2 branches), 1x1 / DW 3x3 / 1x1 branch, concat, shuffle."""

    def __init__(self, in_ch: int, out_ch: int, stride: int):
        super().__init__()
        assert stride in (1, 2)
        branch_ch = out_ch // 2
        self.stride = stride
        if stride == 2:
            # The shortcut half of a downsampling unit: DW 3x3 stride 2 (linear), 1x1 + ReLU.
            self.branch_shortcut = nn.Sequential(
                ConvBN(in_ch, in_ch, 3, stride=2, groups=in_ch),
                ConvBNAct(in_ch, branch_ch, 1),
            )
            branch_in = in_ch
        else:
            assert in_ch == out_ch, "a stride-1 unit keeps the width"
            self.branch_shortcut = None
            branch_in = branch_ch
        self.branch_main = nn.Sequential(
            ConvBNAct(branch_in, branch_ch, 1),
            ConvBN(branch_ch, branch_ch, 3, stride=stride, groups=branch_ch),
            ConvBNAct(branch_ch, branch_ch, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.branch_shortcut is None:
            # Two slices rather than x.chunk(2): XNNPACK delegates slices but not the split op
            # that chunk lowers to, which would cut the graph into one delegate per unit.
            half = x.shape[1] // 2
            out = torch.cat((x[:, :half], self.branch_main(x[:, half:])), dim=1)
        else:
            out = torch.cat((self.branch_shortcut(x), self.branch_main(x)), dim=1)
        return channel_shuffle(out, 2)


class ShuffleNetV2(nn.Module):
    """Stem conv + max pool, three stages (first unit downsamples), 1x1 conv, pool, classifier."""

    def __init__(
        self,
        depths: tuple[int, ...],
        channels: tuple[int, ...],
        num_classes: int = 1000,
    ):
        super().__init__()
        # channels = (stem, stage 2, stage 3, stage 4, last conv), as in the paper's Table 5.
        assert len(channels) == len(depths) + 2
        stem_ch, *stage_chs, last_ch = channels
        self.stem = nn.Sequential(
            ConvBNAct(3, stem_ch, 3, stride=2),
            nn.MaxPool2d(3, stride=2, padding=1),
        )
        stages = []
        in_ch = stem_ch
        for depth, out_ch in zip(depths, stage_chs):
            units = [ShuffleUnit(in_ch, out_ch, stride=2)]
            units += [ShuffleUnit(out_ch, out_ch, stride=1) for _ in range(depth - 1)]
            stages.append(nn.Sequential(*units))
            in_ch = out_ch
        self.stages = nn.Sequential(*stages)
        self.head_conv = ConvBNAct(in_ch, last_ch, 1)
        self.classifier = nn.Linear(last_ch, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head_conv(self.stages(self.stem(x)))
        # keepdim + flatten: XNNPACK takes a 4-D mean only with keepdim, else it runs undelegated.
        return self.classifier(x.mean((2, 3), keepdim=True).flatten(1))


def _create_shufflenetv2(**cfg) -> ShuffleNetV2:
    return ShuffleNetV2(**cfg)


@register_model(
    "ShuffleNet",
    input_size=224,
    counting_note=(
        "Standard definition (torchvision): 2,278,604 params in the training form, which the "
        "rounded 2.3M matches (-0.9%); the deploy form (BN folded) has 2,270,514 (-1.3%). "
        "MACs 144.9M vs 146M published: max pool and other non-conv work are not counted."
    ),
    params_form="train",
)
def shufflenetv2_x1_0():
    return _create_shufflenetv2(depths=(4, 8, 4), channels=(24, 116, 232, 464, 1024))
