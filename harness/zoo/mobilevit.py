"""MobileViT: Light-weight, General-purpose, and Mobile-friendly Vision Transformer
(Mehta & Rastegari, ICLR 2022).

Paper: https://arxiv.org/abs/2110.02178
Official code: https://github.com/apple/ml-cvnets (cvnets/models/classification/mobilevit.py,
config/mobilevit.py, cvnets/modules/mobilevit_block.py, transformer.py, mobilenetv2.py).

A MobileNetV2 backbone (3x3 stride-2 stem, MV2 inverted residual blocks) whose last three stages
each end in a MobileViT block: a local 3x3 conv and a 1x1 projection to the transformer width d,
then the feature map is cut into 2x2 patches and the pixels at the same position in every patch
form one sequence (P = 4 sequences of N = HW/4 tokens) that goes through L pre-LN transformer
layers; the result is folded back, projected to the input width, concatenated with the block
input and fused by a 3x3 conv. Every activation is SiLU ("swish" in the official config), the
transformer has 4 heads and an FFN of 2d, and the MV2 expansion is 2 for XXS and 4 otherwise.

Deploy form: every BatchNorm folds into its conv; the transformer uses LayerNorm, which stays.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from harness.zoo.layers import ConvBN, ConvBNAct, make_divisible
from harness.zoo.registry import register_model


class InvertedResidual(nn.Module):
    """MV2 block: 1x1 expand (skipped at expansion 1), 3x3 DW (strided), 1x1 project, no
    activation after the projection; residual when the shape is unchanged.
    """

    def __init__(self, in_dim: int, out_dim: int, stride: int, expansion: float):
        super().__init__()
        hidden = make_divisible(round(in_dim * expansion), 8)
        self.expand = ConvBNAct(in_dim, hidden, 1, act=nn.SiLU) if expansion != 1 else nn.Identity()
        self.dwconv = ConvBNAct(hidden, hidden, 3, stride=stride, groups=hidden, act=nn.SiLU)
        self.project = ConvBN(hidden, out_dim, 1)
        self.use_residual = stride == 1 and in_dim == out_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.dwconv(self.expand(x)))
        return x + y if self.use_residual else y


class Attention(nn.Module):
    """Multi-head self-attention over (B, N, C) with a fused qkv projection (bias on)."""

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        h = self.num_heads
        # (B, N, 3C) -> (B, 3*heads, N, head_dim), then q, k, v as (B*heads, N, head_dim).
        # Slices and 3-D bmm rather than chunk and 4-D matmul: ExecuTorch's XNNPACK partitioner
        # takes slice_copy and bmm, but leaves split_with_sizes_copy and the expand_copy that a
        # broadcasting 4-D matmul decomposes into to the portable kernels.
        qkv = self.qkv(x).reshape(b, n, 3 * h, c // h).transpose(1, 2)
        q, k, v = (qkv[:, i * h : (i + 1) * h].reshape(b * h, n, c // h) for i in range(3))
        # Explicit matmuls rather than F.scaled_dot_product_attention so FlopCounterMode counts
        # them on CPU (the CPU SDPA kernel has no flop formula).
        attn = torch.bmm(q * self.scale, k.transpose(1, 2)).softmax(dim=-1)
        x = torch.bmm(attn, v).reshape(b, h, n, c // h).transpose(1, 2).reshape(b, n, c)
        return self.proj(x)


class TransformerLayer(nn.Module):
    """Pre-LN transformer encoder layer: x + MHSA(LN(x)), then x + FFN(LN(x)) with SiLU."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float):
        super().__init__()
        hidden = int(dim * mlp_ratio)
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.SiLU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


def unfold_patches(x: torch.Tensor, patch: int) -> torch.Tensor:
    """(B, C, H, W) -> (B*P, N, C): one sequence per pixel position inside a patch.

    Written as the official code does, through 4-D reshapes and transposes only: the obvious
    (B, C, nh, p, nw, p) view is 6-D, and XNNPACK programs with >5-D permutes fail to load.
    """
    b, c, h, w = x.shape
    nh, nw = h // patch, w // patch
    x = x.reshape(b * c * nh, patch, nw, patch).transpose(1, 2)  # (B*C*nh, nw, ph, pw)
    x = x.reshape(b, c, nh * nw, patch * patch).permute(0, 3, 2, 1)  # (B, P, N, C)
    return x.reshape(b * patch * patch, nh * nw, c)


def fold_patches(x: torch.Tensor, batch: int, height: int, width: int, patch: int) -> torch.Tensor:
    """Inverse of `unfold_patches`: (B*P, N, C) -> (B, C, H, W)."""
    c = x.shape[-1]
    nh, nw = height // patch, width // patch
    x = x.reshape(batch, patch * patch, nh * nw, c).permute(0, 3, 2, 1)  # (B, C, N, P)
    x = x.reshape(batch * c * nh, nw, patch, patch).transpose(1, 2)  # (B*C*nh, ph, nw, pw)
    return x.reshape(batch, c, height, width)


class MobileViTBlock(nn.Module):
    """Local 3x3 conv, 1x1 to d, patch-wise transformer, 1x1 back, concat with input, 3x3 fusion."""

    def __init__(
        self,
        dim: int,
        transformer_dim: int,
        depth: int,
        num_heads: int,
        mlp_ratio: float,
        patch_size: int,
    ):
        super().__init__()
        self.patch_size = patch_size
        self.conv_local = ConvBNAct(dim, dim, 3, act=nn.SiLU)
        self.conv_in = nn.Conv2d(dim, transformer_dim, 1, bias=False)
        self.transformer = nn.Sequential(
            *[TransformerLayer(transformer_dim, num_heads, mlp_ratio) for _ in range(depth)]
        )
        self.norm = nn.LayerNorm(transformer_dim)
        self.conv_proj = ConvBNAct(transformer_dim, dim, 1, act=nn.SiLU)
        self.conv_fusion = ConvBNAct(2 * dim, dim, 3, act=nn.SiLU)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        y = self.conv_in(self.conv_local(x))
        b, _, h, w = y.shape
        p = self.patch_size
        # The official code resizes to a multiple of the patch size and back; with the 256 input
        # every stage is divisible and this branch is never taken.
        padded_h, padded_w = -(-h // p) * p, -(-w // p) * p
        resize = (padded_h, padded_w) != (h, w)
        if resize:
            y = F.interpolate(y, size=(padded_h, padded_w), mode="bilinear", align_corners=False)
        y = self.norm(self.transformer(unfold_patches(y, p)))
        y = fold_patches(y, b, padded_h, padded_w, p)
        if resize:
            y = F.interpolate(y, size=(h, w), mode="bilinear", align_corners=False)
        y = self.conv_proj(y)
        return self.conv_fusion(torch.cat((shortcut, y), dim=1))


class MobileViT(nn.Module):
    """Stem, five layers (MV2; 3 x MV2; then MV2 stride 2 + MobileViT block three times), 1x1
    expansion to min(4C, 960), global pool, Linear.
    """

    def __init__(
        self,
        channels: tuple[int, int, int, int, int],
        transformer_dims: tuple[int, int, int],
        expansion: float,
        transformer_depths: tuple[int, int, int] = (2, 4, 3),
        mv2_depths: tuple[int, int] = (1, 3),
        num_heads: int = 4,
        mlp_ratio: float = 2.0,
        patch_size: int = 2,
        stem_dim: int = 16,
        head_expansion: int = 4,
        in_chans: int = 3,
        num_classes: int = 1000,
    ):
        super().__init__()
        self.stem = ConvBNAct(in_chans, stem_dim, 3, stride=2, act=nn.SiLU)
        layers: list[nn.Module] = []
        in_dim = stem_dim
        # Layers 1-2: MV2 blocks only (layer 1 keeps the resolution, layer 2 halves it).
        for i, depth in enumerate(mv2_depths):
            blocks = []
            for j in range(depth):
                stride = 2 if i > 0 and j == 0 else 1
                blocks.append(InvertedResidual(in_dim, channels[i], stride, expansion))
                in_dim = channels[i]
            layers.append(nn.Sequential(*blocks))
        # Layers 3-5: a stride-2 MV2 block, then one MobileViT block.
        for dim, transformer_dim, depth in zip(channels[2:], transformer_dims, transformer_depths):
            layers.append(
                nn.Sequential(
                    InvertedResidual(in_dim, dim, 2, expansion),
                    MobileViTBlock(dim, transformer_dim, depth, num_heads, mlp_ratio, patch_size),
                )
            )
            in_dim = dim
        self.layers = nn.Sequential(*layers)
        head_dim = min(head_expansion * in_dim, 960)
        self.conv_head = ConvBNAct(in_dim, head_dim, 1, act=nn.SiLU)
        self.head = nn.Linear(head_dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_head(self.layers(self.stem(x)))
        # keepdim=True: XNNPACK takes mean.dim only in that form (global average pooling).
        return self.head(x.mean((2, 3), keepdim=True).flatten(1))


def _create_mobilevit(**cfg) -> MobileViT:
    return MobileViT(**cfg)


_COUNTING_NOTE = (
    "params on the training form (BN weights counted, as ml-cvnets and timm count them); "
    "exact_params is the count of the ml-cvnets model built from its own code, which this one "
    "matches output for output. The paper rounds to 0.1M, so XXS (1.272M) sits 2.2% under the "
    "published 1.3M. MACs FlopCounterMode on the deploy form, attention matmuls included; the "
    "paper's 0.4/1.0/2.0 G are rounded to 0.1G"
)


@register_model(
    "MobileViT", input_size=256, counting_note=_COUNTING_NOTE, params_form="train", exact_params=1_272_024
)
def mobilevit_xxs():
    return _create_mobilevit(channels=(16, 24, 48, 64, 80), transformer_dims=(64, 80, 96), expansion=2)


@register_model(
    "MobileViT", input_size=256, counting_note=_COUNTING_NOTE, params_form="train", exact_params=2_317_848
)
def mobilevit_xs():
    return _create_mobilevit(channels=(32, 48, 64, 80, 96), transformer_dims=(96, 120, 144), expansion=4)


@register_model(
    "MobileViT", input_size=256, counting_note=_COUNTING_NOTE, params_form="train", exact_params=5_578_632
)
def mobilevit_s():
    return _create_mobilevit(channels=(32, 64, 96, 128, 160), transformer_dims=(144, 192, 240), expansion=4)
