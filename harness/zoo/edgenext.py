"""EdgeNeXt: Efficiently Amalgamated CNN-Transformer Architecture for Mobile Vision Applications
(Maaz et al., ECCV Workshops 2022).

Paper: https://arxiv.org/abs/2206.10589
Official code: https://github.com/mmaaz60/EdgeNeXt (models/edgenext.py, conv_encoder.py,
sdta_encoder.py); timm's `edgenext.py` is a rewrite of the same model.

A ConvNeXt-style hierarchy (4x4 patchify stem, LN + 2x2 stride-2 conv between stages) whose
blocks are ConvNeXt blocks with a larger depthwise kernel in each stage (3, 5, 7, 9), and whose
stages 2-4 end in one SDTA block ("split depth-wise transposed attention"): the channels are
split into groups that go through a cascade of 3x3 depthwise convs (each group sees the previous
group's output, Res2Net-style), then cross-covariance attention (XCA: attention between channels,
so its cost is linear in the number of pixels), then an inverted-bottleneck MLP. The first SDTA
block (stage 2) also adds a Fourier positional encoding.

`depth` in the configs counts every block of a stage, the SDTA block included (the official
`depths` with `global_block=[0, 1, 1, 1]`), so xx_small has 2-2-6-2 blocks of which 1+1+5+1 are
conv blocks.

Deploy form: there is no BatchNorm; every layer scale folds into the Linear before it (the
official init of 1e-6 is kept, so a freshly built model is nearly the identity in each residual
branch; the family test randomises the scales before checking the fold).
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from harness.zoo.layers import LayerNorm2d
from harness.zoo.registry import register_model


class LayerScale(nn.Module):
    """Per-channel scale on the last dimension, the residual branch's learnable gain."""

    def __init__(self, dim: int, init_value: float):
        super().__init__()
        self.gamma = nn.Parameter(torch.full((dim,), init_value))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma


@torch.no_grad()
def _fold_layer_scale(linear: nn.Linear, scale: LayerScale) -> nn.Linear:
    """A new Linear computing scale(linear(x))."""
    fused = copy.deepcopy(linear)
    fused.weight.mul_(scale.gamma.reshape(-1, 1))
    fused.bias.mul_(scale.gamma)
    return fused


class PositionalEncodingFourier(nn.Module):
    """DETR-style sine/cosine encoding of normalised (y, x) pixel coordinates, projected to `dim`.

    Depends only on the feature map's height and width. The official code builds the coordinates
    as cumulative sums of an all-ones bool mask; `arange(1, n + 1)` gives the same numbers, so
    the exported graph holds only arange and elementwise ops (no bool tensors, no cumsum).
    """

    def __init__(self, dim: int, hidden_dim: int = 32, temperature: float = 10000.0):
        super().__init__()
        self.hidden_dim = hidden_dim
        self.temperature = temperature
        self.token_projection = nn.Conv2d(2 * hidden_dim, dim, kernel_size=1)

    def _encode(self, positions: torch.Tensor) -> torch.Tensor:
        """(n,) coordinates in (0, 2pi] -> (n, hidden_dim), sin and cos interleaved."""
        exponent = 2 * torch.div(torch.arange(self.hidden_dim), 2, rounding_mode="floor") / self.hidden_dim
        phases = positions[:, None] / self.temperature**exponent
        return torch.stack((phases[:, 0::2].sin(), phases[:, 1::2].cos()), dim=2).flatten(1)

    def forward(self, height: int, width: int) -> torch.Tensor:
        eps = 1e-6
        y = torch.arange(1, height + 1, dtype=torch.float32) / (height + eps) * 2 * math.pi
        x = torch.arange(1, width + 1, dtype=torch.float32) / (width + eps) * 2 * math.pi
        pos_y = self._encode(y)[:, None, :].expand(height, width, self.hidden_dim)
        pos_x = self._encode(x)[None, :, :].expand(height, width, self.hidden_dim)
        pos = torch.cat((pos_y, pos_x), dim=2).permute(2, 0, 1)[None]  # (1, 2*hidden, H, W)
        return self.token_projection(pos)


class CrossCovarianceAttention(nn.Module):
    """XCA: transposed (channel-to-channel) multi-head attention over tokens (B, N, C).

    q and k are L2-normalised along the token axis, so q @ k^T is a (head_dim x head_dim) matrix
    of cosine similarities between channels, sharpened by a learned per-head temperature.
    """

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.temperature = nn.Parameter(torch.ones(num_heads, 1, 1))
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        h, d = self.num_heads, c // self.num_heads
        # (B, N, 3C) -> (B, 3*heads, head_dim, N): channels on rows, tokens on columns. Then q, k,
        # v as (B*heads, head_dim, N) by slicing, and 3-D bmm: ExecuTorch's XNNPACK partitioner
        # takes slice_copy and bmm, but not split_with_sizes_copy or the expand_copy that a
        # broadcasting 4-D matmul decomposes into.
        qkv = self.qkv(x).transpose(1, 2).reshape(b, 3 * h, d, n)
        q, k, v = (qkv[:, i * h : (i + 1) * h].reshape(b * h, d, n) for i in range(3))
        q = F.normalize(q, dim=-1)
        k = F.normalize(k, dim=-1)
        attn = torch.bmm(q, k.transpose(1, 2)).reshape(b, h, d, d) * self.temperature
        attn = attn.softmax(dim=-1).reshape(b * h, d, d)
        x = torch.bmm(attn, v).reshape(b, c, n).transpose(1, 2)
        return self.proj(x)


class Mlp(nn.Module):
    """Inverted bottleneck on channels-last input: Linear x`expansion`, GELU, Linear."""

    def __init__(self, dim: int, expansion: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, expansion * dim)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(expansion * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class ConvEncoder(nn.Module):
    """ConvNeXt block: DW kxk conv, LN, MLP, layer scale, residual."""

    def __init__(self, dim: int, kernel_size: int, expansion: int, layer_scale_init: float):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, kernel_size, padding=kernel_size // 2, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, expansion)
        self.layer_scale = LayerScale(dim, layer_scale_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        x = self.dwconv(x).permute(0, 2, 3, 1)  # NCHW -> NHWC for LN and the Linear layers
        x = self.layer_scale(self.mlp(self.norm(x)))
        return shortcut + x.permute(0, 3, 1, 2)

    @torch.no_grad()
    def fuse(self) -> nn.Module:
        if isinstance(self.layer_scale, nn.Identity):
            return self
        fused = copy.deepcopy(self)
        fused.mlp.fc2 = _fold_layer_scale(self.mlp.fc2, self.layer_scale)
        fused.layer_scale = nn.Identity()
        return fused


class SplitDepthwiseCascade(nn.Module):
    """Split channels into `scales` groups; every group but the last goes through a 3x3 DW conv
    after the previous group's output is added to it; the last group passes through unchanged.
    """

    def __init__(self, dim: int, scales: int):
        super().__init__()
        width = math.ceil(dim / scales)
        if dim - width * (scales - 1) <= 0:
            raise ValueError(f"{dim} channels cannot be split into {scales} groups of {width}.")
        # (start, end) channel range of each group; the last group takes the remainder.
        self.group_bounds = [(i * width, (i + 1) * width) for i in range(scales - 1)]
        self.group_bounds.append((width * (scales - 1), dim))
        self.convs = nn.ModuleList(
            nn.Conv2d(width, width, 3, padding=1, groups=width) for _ in range(scales - 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Channel slices rather than torch.split: XNNPACK takes slice_copy, not split_with_sizes.
        groups = [x[:, start:end] for start, end in self.group_bounds]
        outputs = []
        running = None
        for group, conv in zip(groups, self.convs):
            running = conv(group if running is None else running + group)
            outputs.append(running)
        outputs.append(groups[-1])
        return torch.cat(outputs, dim=1)


class SDTAEncoder(nn.Module):
    """Split depth-wise transposed attention block.

    y = cascade(x) (+ positional encoding); z = y + scale1 * XCA(LN(y)); out = x + scale2 * MLP(LN(z)).
    As in the official code, the MLP branch is added to the block input x, not to z: the cascade
    and XCA feed the MLP but have no residual path of their own to the output.
    """

    def __init__(
        self,
        dim: int,
        scales: int,
        num_heads: int,
        expansion: int,
        layer_scale_init: float,
        use_pos_embed: bool,
    ):
        super().__init__()
        self.cascade = SplitDepthwiseCascade(dim, scales)
        self.pos_embed = PositionalEncodingFourier(dim) if use_pos_embed else None
        self.norm_xca = nn.LayerNorm(dim, eps=1e-6)
        self.xca = CrossCovarianceAttention(dim, num_heads)
        self.layer_scale_xca = LayerScale(dim, layer_scale_init)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, expansion)
        self.layer_scale = LayerScale(dim, layer_scale_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        x = self.cascade(x)
        b, c, h, w = x.shape
        if self.pos_embed is not None:
            x = x + self.pos_embed(h, w)
        x = x.flatten(2).transpose(1, 2)  # (B, N, C) tokens
        x = x + self.layer_scale_xca(self.xca(self.norm_xca(x)))
        x = self.layer_scale(self.mlp(self.norm(x)))
        return shortcut + x.transpose(1, 2).reshape(b, c, h, w)

    @torch.no_grad()
    def fuse(self) -> nn.Module:
        if isinstance(self.layer_scale, nn.Identity):
            return self
        fused = copy.deepcopy(self)
        fused.xca.proj = _fold_layer_scale(self.xca.proj, self.layer_scale_xca)
        fused.layer_scale_xca = nn.Identity()
        fused.mlp.fc2 = _fold_layer_scale(self.mlp.fc2, self.layer_scale)
        fused.layer_scale = nn.Identity()
        return fused


class EdgeNeXtStage(nn.Module):
    """Downsampling (LN + 2x2 stride-2 conv; none in stage 1), conv blocks, optional SDTA block."""

    def __init__(
        self,
        in_dim: int,
        dim: int,
        depth: int,
        kernel_size: int,
        expansion: int,
        layer_scale_init: float,
        sdta_scales: int | None,
        num_heads: int,
        use_pos_embed: bool,
        downsample: bool,
    ):
        super().__init__()
        self.downsample = (
            nn.Sequential(LayerNorm2d(in_dim, eps=1e-6), nn.Conv2d(in_dim, dim, 2, stride=2))
            if downsample
            else nn.Identity()
        )
        num_conv = depth - 1 if sdta_scales else depth
        blocks: list[nn.Module] = [
            ConvEncoder(dim, kernel_size, expansion, layer_scale_init) for _ in range(num_conv)
        ]
        if sdta_scales:
            blocks.append(
                SDTAEncoder(dim, sdta_scales, num_heads, expansion, layer_scale_init, use_pos_embed)
            )
        self.blocks = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.downsample(x))


class EdgeNeXt(nn.Module):
    def __init__(
        self,
        dims: tuple[int, ...],
        depths: tuple[int, ...],
        num_heads: int,
        kernel_sizes: tuple[int, ...] = (3, 5, 7, 9),
        # Channel groups of each stage's SDTA block; None = no SDTA block in that stage.
        sdta_scales: tuple[int | None, ...] = (None, 2, 3, 4),
        expansion: int = 4,
        layer_scale_init: float = 1e-6,
        in_chans: int = 3,
        num_classes: int = 1000,
    ):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_chans, dims[0], kernel_size=4, stride=4), LayerNorm2d(dims[0], eps=1e-6)
        )
        # Only the first SDTA block gets the positional encoding.
        first_sdta = next(i for i, s in enumerate(sdta_scales) if s)
        stages = []
        in_dim = dims[0]
        for i, dim in enumerate(dims):
            stages.append(
                EdgeNeXtStage(
                    in_dim,
                    dim,
                    depths[i],
                    kernel_sizes[i],
                    expansion,
                    layer_scale_init,
                    sdta_scales[i],
                    num_heads,
                    use_pos_embed=i == first_sdta,
                    downsample=i > 0,
                )
            )
            in_dim = dim
        self.stages = nn.Sequential(*stages)
        self.norm = nn.LayerNorm(dims[-1], eps=1e-6)
        self.head = nn.Linear(dims[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.stem(x))
        # keepdim=True: XNNPACK takes mean.dim only in that form (global average pooling).
        return self.head(self.norm(x.mean((2, 3), keepdim=True).flatten(1)))


def _create_edgenext(**cfg) -> EdgeNeXt:
    return EdgeNeXt(**cfg)


_COUNTING_NOTE = (
    "params on the training form (layer scales counted; the deploy form folds them into the "
    "preceding Linear, a few thousand fewer); exact_params is the count of the official model "
    "built from its own code, which this one matches output for output. MACs FlopCounterMode on "
    "the deploy form (XCA matmuls and the positional-encoding projection included). The "
    "published MACs are the official fvcore count, which also charges 5 per element of every "
    "channels-last LayerNorm: ours + 5 x those elements reproduces 260.58 / 538.0 / 1260.59 / "
    "3840.93 M exactly, so ours are 1.2 / 0.9 / 0.6 / 0.3% lower"
)


@register_model(
    "EdgeNeXt", input_size=256, counting_note=_COUNTING_NOTE, params_form="train", exact_params=1_327_216
)
def edgenext_xx_small():
    return _create_edgenext(dims=(24, 48, 88, 168), depths=(2, 2, 6, 2), num_heads=4)


@register_model(
    "EdgeNeXt", input_size=256, counting_note=_COUNTING_NOTE, params_form="train", exact_params=2_336_804
)
def edgenext_x_small():
    return _create_edgenext(dims=(32, 64, 100, 192), depths=(3, 3, 9, 3), num_heads=4)


@register_model(
    "EdgeNeXt", input_size=256, counting_note=_COUNTING_NOTE, params_form="train", exact_params=5_586_832
)
def edgenext_small():
    return _create_edgenext(dims=(48, 96, 160, 304), depths=(3, 3, 9, 3), num_heads=8)


@register_model(
    "EdgeNeXt", input_size=256, counting_note=_COUNTING_NOTE, params_form="train", exact_params=18_511_292
)
def edgenext_base():
    return _create_edgenext(dims=(80, 160, 288, 584), depths=(3, 3, 9, 3), num_heads=8)
