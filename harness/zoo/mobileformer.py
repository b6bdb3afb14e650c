"""Mobile-Former: Bridging MobileNet and Transformer (Chen et al., CVPR 2022).

Paper: https://arxiv.org/abs/2108.05895
Official code: https://github.com/AAboys/MobileFormer (mobile_former.py, dna_blocks.py)

Two parallel streams: a MobileNet-style CNN over the image ("Mobile") and a transformer over a
handful of learnable global tokens ("Former", M tokens of width d). Every block exchanges
information both ways with light cross-attention that has no projections on the feature-map
side: Mobile->Former lets the tokens attend to the feature map (keys = values = the feature map
itself), Former->Mobile lets every pixel attend to the tokens. Token 0 also drives the dynamic
ReLUs of the Mobile stream through a small MLP.

Everything on the image side is conv + BatchNorm, so the deploy form folds every BN into its conv
(and the classifier's BatchNorm1d into its linear layer). The token side has only Linear and
post-LayerNorms, which stay as they are.

Tokens are kept batch-first (B x M x d) here; the official code stores them M x B x d. The
arithmetic, including how channels split into heads, is the same.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from harness.zoo.layers import ConvBN, channel_shuffle, fold_linear_bn
from harness.zoo.registry import register_model


class DynamicReLU(nn.Module):
    """DyReLU-B with coefficients from token 0: max(a1 * x, a2 * x), one (a1, a2) per channel.

    s = h_sigmoid(MLP(token 0)) gives 2C values in [0, 1]; a1 = 2(s1 - 0.5) + 1 lies in [0, 2]
    and a2 = 2(s2 - 0.5) in [-1, 1], so s = 0.5 everywhere is a plain ReLU.
    """

    def __init__(self, token_dim: int, channels: int, reduction: int = 4):
        super().__init__()
        self.channels = channels
        self.coefficients = nn.Sequential(
            nn.Linear(token_dim, token_dim // reduction),
            nn.ReLU(),
            nn.Linear(token_dim // reduction, 2 * channels),
            nn.Hardsigmoid(),
        )

    def forward(self, x: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        s = self.coefficients(tokens[:, 0])[:, :, None, None]
        s1, s2 = s[:, : self.channels], s[:, self.channels :]
        a1 = (s1 - 0.5) * 2.0 + 1.0
        a2 = (s2 - 0.5) * 2.0
        return torch.maximum(x * a1, x * a2)


class LinearBN(nn.Sequential):
    """Linear then BatchNorm1d; fuses into one Linear."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__(nn.Linear(in_features, out_features), nn.BatchNorm1d(out_features))

    @torch.no_grad()
    def fuse(self) -> nn.Linear:
        return fold_linear_bn(self[0], self[1])


class ChannelShuffle(nn.Module):
    """ShuffleNet channel shuffle, so that consecutive grouped 1x1 convs mix across groups."""

    def __init__(self, groups: int):
        super().__init__()
        self.groups = groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return channel_shuffle(x, self.groups)


def _shuffle_or_identity(grouped: bool, shuffle_groups: int) -> nn.Module:
    # The official code shuffles only in the grouped (26M) variant; the others have no op there.
    # After a depthwise conv with multiplier e it shuffles with one group per input channel.
    return ChannelShuffle(shuffle_groups) if grouped else nn.Identity()


class MobileToFormer(nn.Module):
    """Tokens attend to the feature map: keys and values are the feature map, unprojected.

    Only the query (tokens -> C) is projected; the attention output is gated per channel by
    2 * h_sigmoid(Linear(tokens)), projected back to d, added to the tokens and post-normalised.
    """

    def __init__(self, channels: int, token_dim: int, num_heads: int = 2):
        super().__init__()
        self.num_heads = num_heads
        self.scale = (channels // num_heads) ** -0.5
        self.q = nn.Linear(token_dim, channels)
        self.gate = nn.Sequential(nn.Linear(token_dim, channels), nn.Hardsigmoid())
        self.proj = nn.Linear(channels, token_dim)
        self.norm = nn.LayerNorm(token_dim)

    def forward(self, x: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        m = tokens.shape[1]
        q = self.q(tokens).reshape(b, m, self.num_heads, c // self.num_heads).transpose(1, 2)
        kv = x.reshape(b, self.num_heads, c // self.num_heads, h * w)  # B x heads x C/heads x HW
        attn = ((q @ kv) * self.scale).softmax(dim=-1)  # B x heads x M x HW
        out = (attn @ kv.transpose(-1, -2)).transpose(1, 2).reshape(b, m, c)
        out = out * (2.0 * self.gate(tokens))
        return self.norm(tokens + self.proj(out))


class Former(nn.Module):
    """Token self-attention (keys = values = the tokens, unprojected) and an FFN, post-norm."""

    def __init__(self, token_dim: int, num_heads: int = 4, ffn_ratio: int = 2):
        super().__init__()
        self.num_heads = num_heads
        self.scale = (token_dim // num_heads) ** -0.5
        self.q = nn.Linear(token_dim, token_dim)
        self.proj = nn.Linear(token_dim, token_dim)
        self.norm1 = nn.LayerNorm(token_dim)
        self.ffn = nn.Sequential(
            nn.Linear(token_dim, token_dim * ffn_ratio),
            nn.GELU(),
            nn.Linear(token_dim * ffn_ratio, token_dim),
        )
        self.norm2 = nn.LayerNorm(token_dim)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        b, m, d = tokens.shape
        q = self.q(tokens).reshape(b, m, self.num_heads, d // self.num_heads).transpose(1, 2)
        kv = tokens.reshape(b, m, self.num_heads, d // self.num_heads).transpose(1, 2)
        attn = ((q @ kv.transpose(-1, -2)) * self.scale).softmax(dim=-1)  # B x heads x M x M
        out = (attn @ kv).transpose(1, 2).reshape(b, m, d)
        tokens = self.norm1(tokens + self.proj(out))
        return self.norm2(tokens + self.ffn(tokens))


class FormerToMobile(nn.Module):
    """Every pixel attends to the tokens: the query is the feature map itself, keys and values
    are Linear(d -> C) of the tokens; the result is added to the feature map."""

    def __init__(self, channels: int, token_dim: int, num_heads: int = 2):
        super().__init__()
        self.num_heads = num_heads
        self.scale = (channels // num_heads) ** -0.5
        self.k = nn.Linear(token_dim, channels)
        self.v = nn.Linear(token_dim, channels)

    def forward(self, x: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        m = tokens.shape[1]
        head_dim = c // self.num_heads
        q = x.reshape(b, self.num_heads, head_dim, h * w).transpose(-1, -2)  # B x heads x HW x C/heads
        k = self.k(tokens).reshape(b, m, self.num_heads, head_dim).permute(0, 2, 3, 1)
        v = self.v(tokens).reshape(b, m, self.num_heads, head_dim).transpose(1, 2)
        attn = ((q @ k) * self.scale).softmax(dim=-1)  # B x heads x HW x M
        out = (attn @ v).transpose(-1, -2).reshape(b, c, h, w)
        return x + out


class LiteBottleneck(nn.Module):
    """The first block, Mobile only: DW 3x3 expanding C -> e*C, ReLU6, 1x1 projection, skip.

    In the grouped variant the depthwise output is shuffled with one group per input channel
    before the grouped 1x1, as in the official code.
    """

    def __init__(self, in_chs: int, out_chs: int, expansion: int, stride: int, groups: int = 1):
        super().__init__()
        hidden = in_chs * expansion
        self.conv_dw = ConvBN(in_chs, hidden, 3, stride, groups=in_chs)
        self.act = nn.ReLU6()
        self.shuffle = _shuffle_or_identity(groups > 1, in_chs)
        self.conv_pw = ConvBN(hidden, out_chs, 1, groups=groups)
        self.has_skip = stride == 1 and in_chs == out_chs

    def forward(self, x: torch.Tensor, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.conv_pw(self.shuffle(self.act(self.conv_dw(x))))
        if self.has_skip:
            out = out + x
        return out, tokens


class MobileFormerBlock(nn.Module):
    """Stride-1 block: Mobile->Former and Former update the tokens, then the Mobile stream runs
    1x1 expand, DyReLU, DW 3x3, DyReLU, 1x1 project (+ skip when channels match), and
    Former->Mobile adds the tokens' message to the result."""

    def __init__(self, in_chs: int, out_chs: int, expansion: float, token_dim: int, groups: int = 1):
        super().__init__()
        hidden = round(in_chs * expansion)
        self.mobile_to_former = MobileToFormer(in_chs, token_dim)
        self.former = Former(token_dim)
        self.conv_expand = ConvBN(in_chs, hidden, 1, groups=groups)
        self.shuffle_expand = _shuffle_or_identity(groups > 1, groups)
        self.act_expand = DynamicReLU(token_dim, hidden)
        self.conv_dw = ConvBN(hidden, hidden, 3, groups=hidden)
        self.act_dw = DynamicReLU(token_dim, hidden)
        self.conv_project = ConvBN(hidden, out_chs, 1, groups=groups)
        self.shuffle_project = _shuffle_or_identity(groups > 1, groups)
        self.has_skip = in_chs == out_chs
        self.former_to_mobile = FormerToMobile(out_chs, token_dim)

    def forward(self, x: torch.Tensor, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        tokens = self.former(self.mobile_to_former(x, tokens))
        out = self.act_expand(self.shuffle_expand(self.conv_expand(x)), tokens)
        out = self.act_dw(self.conv_dw(out), tokens)
        out = self.shuffle_project(self.conv_project(out))
        if self.has_skip:
            out = out + x
        return self.former_to_mobile(out, tokens), tokens


class MobileFormerDownBlock(nn.Module):
    """Stride-2 block: the Mobile stream is DW 3x3 s2 (x6), DyReLU, 1x1 to C_out, then an inner
    residual around DW 3x3 (x4), DyReLU, 1x1; token exchange as in `MobileFormerBlock`."""

    def __init__(
        self,
        in_chs: int,
        out_chs: int,
        token_dim: int,
        groups: int = 1,
        dw_expansion: int = 6,
        inner_expansion: int = 4,
    ):
        super().__init__()
        hidden_down = in_chs * dw_expansion
        hidden_inner = out_chs * inner_expansion
        self.mobile_to_former = MobileToFormer(in_chs, token_dim)
        self.former = Former(token_dim)
        self.conv_down = ConvBN(in_chs, hidden_down, 3, stride=2, groups=in_chs)
        self.shuffle_down = _shuffle_or_identity(groups > 1, in_chs)
        self.act_down = DynamicReLU(token_dim, hidden_down)
        self.conv_reduce = ConvBN(hidden_down, out_chs, 1, groups=groups)
        self.conv_dw = ConvBN(out_chs, hidden_inner, 3, groups=out_chs)
        self.shuffle_dw = _shuffle_or_identity(groups > 1, out_chs)
        self.act_dw = DynamicReLU(token_dim, hidden_inner)
        self.conv_project = ConvBN(hidden_inner, out_chs, 1, groups=groups)
        self.former_to_mobile = FormerToMobile(out_chs, token_dim)

    def forward(self, x: torch.Tensor, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        tokens = self.former(self.mobile_to_former(x, tokens))
        out = self.act_down(self.shuffle_down(self.conv_down(x)), tokens)
        shortcut = self.conv_reduce(out)
        out = self.act_dw(self.shuffle_dw(self.conv_dw(shortcut)), tokens)
        out = self.conv_project(out) + shortcut
        return self.former_to_mobile(out, tokens), tokens


class MobileFormerHead(nn.Module):
    """A last Mobile->Former, then 1x1 conv C -> 6C, ReLU6, pool, h-swish, concat token 0,
    Linear + BN1d + h-swish, dropout, classifier."""

    def __init__(
        self,
        in_chs: int,
        token_dim: int,
        hidden_features: int,
        num_classes: int,
        expansion: int = 6,
        groups: int = 1,
        drop_rate: float = 0.0,
    ):
        super().__init__()
        conv_chs = in_chs * expansion
        self.mobile_to_former = MobileToFormer(in_chs, token_dim)
        self.shuffle = _shuffle_or_identity(groups > 1, groups)
        self.conv = ConvBN(in_chs, conv_chs, 1, groups=groups)
        self.act = nn.ReLU6()
        self.pool_act = nn.Hardswish()
        self.fc = LinearBN(conv_chs + token_dim, hidden_features)
        self.fc_act = nn.Hardswish()
        self.drop = nn.Dropout(drop_rate)
        self.classifier = nn.Linear(hidden_features, num_classes)

    def forward(self, x: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        tokens = self.mobile_to_former(x, tokens)
        x = self.act(self.conv(self.shuffle(x)))
        # keepdim: XNNPACK delegates a global mean only in this form.
        x = self.pool_act(x.mean((2, 3), keepdim=True).flatten(1))
        x = torch.cat([x, tokens[:, 0]], dim=1)
        x = self.drop(self.fc_act(self.fc(x)))
        return self.classifier(x)


class MobileFormer(nn.Module):
    """Stem, a lite bottleneck, Mobile-Former blocks, head.

    `blocks` is data: ("down", C_out) for a stride-2 block, ("mobile", C_out, expansion) for a
    stride-1 block. `groups` > 1 makes every 1x1 conv grouped, with channel shuffles (26M).
    """

    def __init__(
        self,
        stem_chs: int,
        lite_block: tuple[int, int, int],
        blocks: tuple[tuple, ...],
        num_tokens: int,
        token_dim: int,
        head_features: int,
        groups: int = 1,
        in_chans: int = 3,
        num_classes: int = 1000,
        drop_rate: float = 0.0,
    ):
        super().__init__()
        self.tokens = nn.Embedding(num_tokens, token_dim)
        self.stem = nn.Sequential(ConvBN(in_chans, stem_chs, 3, stride=2), nn.ReLU6())
        lite_chs, lite_expansion, lite_stride = lite_block
        layers: list[nn.Module] = [LiteBottleneck(stem_chs, lite_chs, lite_expansion, lite_stride, groups)]
        in_chs = lite_chs
        for kind, out_chs, *args in blocks:
            if kind == "down":
                layers.append(MobileFormerDownBlock(in_chs, out_chs, token_dim, groups))
            elif kind == "mobile":
                layers.append(MobileFormerBlock(in_chs, out_chs, *args, token_dim=token_dim, groups=groups))
            else:
                raise ValueError(f"Unknown Mobile-Former block kind {kind!r}; use 'down' or 'mobile'.")
            in_chs = out_chs
        self.blocks = nn.ModuleList(layers)
        self.head = MobileFormerHead(
            in_chs, token_dim, head_features, num_classes, groups=groups, drop_rate=drop_rate
        )
        self._init_weights()

    def _init_weights(self) -> None:
        # The official initialisation: He-normal (fan-out) convs, N(0, 0.01) linear layers.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_out))
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The learnable tokens, one copy per image. A copy rather than an expand() view: under
        # no_grad a view of a parameter still reports requires_grad without a grad_fn, which
        # breaks FlopCounterMode's module tracker. M x d floats per image, so the copy is free.
        tokens = self.tokens.weight.unsqueeze(0).repeat(x.shape[0], 1, 1)
        x = self.stem(x)
        for block in self.blocks:
            x, tokens = block(x, tokens)
        return self.head(x, tokens)


def _create_mobileformer(**cfg) -> MobileFormer:
    return MobileFormer(**cfg)


_COUNTING_NOTE = (
    "params on the training form (BatchNorms unfused), which reproduces the official code's "
    "count exactly; the deploy form has fewer (each folded BN2d keeps C of its 2C as conv bias, "
    "the head's BN1d folds away). MACs: the published 26.0M..510.6M (zoo-notes) are fvcore's "
    "count of the unfused eval model, which adds 2 per BatchNorm element, 5 per LayerNorm "
    "element and 1 per pooled element to the matmuls and convolutions; counted that way "
    "(macs_convention fvcore) ours match every one to the printed 0.1M. FlopCounterMode alone "
    "gives 2-10% less (23.6M for 26m), most for the smallest variants"
)

# Shared by 52M and 26M; 26M makes every 1x1 conv grouped (4 groups) with channel shuffles.
_BLOCKS_52M = (
    ("mobile", 12, 3),
    ("down", 24), ("mobile", 24, 3),
    ("down", 48), ("mobile", 48, 4), ("mobile", 64, 6),
    ("down", 96), ("mobile", 96, 6),
)


def _register(exact_params: int, exact_macs: int):
    return register_model(
        "Mobile-Former",
        input_size=224,
        counting_note=_COUNTING_NOTE,
        exact_params=exact_params,
        exact_macs=exact_macs,
        params_form="train",
        macs_convention="fvcore",
    )


@_register(exact_params=3_232_788, exact_macs=26_000_000)
def mobileformer_26m():
    return _create_mobileformer(
        stem_chs=8, lite_block=(12, 3, 2), blocks=_BLOCKS_52M, num_tokens=3, token_dim=128,
        head_features=1024, groups=4,
    )


@_register(exact_params=3_469_092, exact_macs=51_800_000)
def mobileformer_52m():
    return _create_mobileformer(
        stem_chs=8, lite_block=(12, 3, 2), blocks=_BLOCKS_52M, num_tokens=3, token_dim=128,
        head_features=1024,
    )


@_register(exact_params=4_585_252, exact_macs=96_300_000)
def mobileformer_96m():
    return _create_mobileformer(
        stem_chs=12, lite_block=(12, 2, 1),
        blocks=(
            ("down", 16),
            ("down", 32), ("mobile", 32, 3),
            ("down", 64), ("mobile", 64, 4), ("mobile", 88, 6),
            ("down", 128), ("mobile", 128, 6),
        ),
        num_tokens=4, token_dim=128, head_features=1280,
    )


@_register(exact_params=7_595_828, exact_macs=152_000_000)
def mobileformer_151m():
    return _create_mobileformer(
        stem_chs=12, lite_block=(12, 2, 1),
        blocks=(
            ("down", 16), ("mobile", 16, 3),
            ("down", 32), ("mobile", 32, 3),
            ("down", 64), ("mobile", 64, 4), ("mobile", 88, 6), ("mobile", 88, 6),
            ("down", 128), ("mobile", 128, 6), ("mobile", 128, 6),
        ),
        num_tokens=6, token_dim=192, head_features=1280,
    )


@_register(exact_params=9_425_920, exact_macs=215_300_000)
def mobileformer_214m():
    return _create_mobileformer(
        stem_chs=12, lite_block=(12, 2, 1),
        blocks=(
            ("down", 20), ("mobile", 20, 3),
            ("down", 40), ("mobile", 40, 4),
            ("down", 80), ("mobile", 80, 4), ("mobile", 112, 6), ("mobile", 112, 6),
            ("down", 160), ("mobile", 160, 6), ("mobile", 160, 6),
        ),
        num_tokens=6, token_dim=192, head_features=1600,
    )


@_register(exact_params=11_422_648, exact_macs=295_400_000)
def mobileformer_294m():
    return _create_mobileformer(
        stem_chs=16, lite_block=(16, 2, 1),
        blocks=(
            ("down", 24), ("mobile", 24, 4),
            ("down", 48), ("mobile", 48, 4),
            ("down", 96), ("mobile", 96, 4), ("mobile", 128, 6), ("mobile", 128, 6),
            ("down", 192), ("mobile", 192, 6), ("mobile", 192, 6),
        ),
        num_tokens=6, token_dim=192, head_features=1920,
    )


@_register(exact_params=13_976_976, exact_macs=510_600_000)
def mobileformer_508m():
    return _create_mobileformer(
        stem_chs=24, lite_block=(24, 2, 1),
        blocks=(
            ("down", 40), ("mobile", 40, 3),
            ("down", 72), ("mobile", 72, 3),
            ("down", 128), ("mobile", 128, 4), ("mobile", 176, 6), ("mobile", 176, 6),
            ("down", 240), ("mobile", 240, 6), ("mobile", 240, 6),
        ),
        num_tokens=6, token_dim=192, head_features=1920,
    )
