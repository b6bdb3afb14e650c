"""EMO: a ResNet-like stack of inverted Residual Mobile Blocks (iRMB).

Paper: "Rethinking Mobile Block for Efficient Attention-based Models", Zhang et al., ICCV 2023,
https://arxiv.org/abs/2301.01146. Official code: https://github.com/zhangzjn/EMO (model/emo.py).

An iRMB is a MobileNetV2 inverted residual whose 1x1 expansion is a "value" projection, optionally
preceded by windowed self-attention: norm -> [attention over the normed input] -> 1x1 expansion +
activation -> depthwise conv + BN + SiLU (inner residual) -> 1x1 projection -> outer residual.
Attention is used in stages 3 and 4 only, in 7x7 windows. The official code splits the map into a
*dilated grid* of windows (window (i, j) holds the pixels whose row is i mod n_h and column j mod
n_w), not into contiguous blocks; that is reproduced here, with reshapes of at most 5 dimensions
because XNNPACK programs with 7-D permutes fail to load in ExecuTorch.

Deploy form: every BatchNorm is folded, the ones after a conv into that conv and the pre-norm BN
of a plain (attention-free) block into the 1x1 conv right after it. LayerNorms stay; ExecuTorch
1.5.1's XNNPACK partitioner does not take layer_norm, so each LN (12-13 per model) runs outside the
delegate and splits the graph (everything else, attention included, is delegated).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from harness.zoo.layers import ConvBNAct, LayerNorm2d, SqueezeExcite, fold_bn_into_conv
from harness.zoo.registry import register_model

# The official code builds every norm with eps 1e-6 (its get_norm()).
_NORM_EPS = 1e-6


@torch.no_grad()
def fold_bn_into_next_pointwise_conv(bn: nn.BatchNorm2d, conv: nn.Conv2d) -> nn.Conv2d:
    """A new 1x1 conv computing conv(bn(x)) in eval mode (BN *before* the conv).

    Exact only for an ungrouped 1x1 conv without padding, where every output pixel sees exactly
    the BN'd pixel below it.
    """
    assert conv.kernel_size == (1, 1) and conv.groups == 1 and conv.padding == (0, 0)
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    shift = bn.bias - bn.running_mean * scale
    fused = nn.Conv2d(conv.in_channels, conv.out_channels, 1, stride=conv.stride, bias=True)
    weight = conv.weight.flatten(1)
    fused.weight.copy_((weight * scale.reshape(1, -1)).reshape_as(conv.weight))
    bias = conv.bias if conv.bias is not None else torch.zeros(conv.out_channels)
    fused.bias.copy_(bias + weight @ shift)
    return fused


def grid_partition(x: torch.Tensor, window_size: int, n_h: int, n_w: int) -> torch.Tensor:
    """(B, C, n_h*ws, n_w*ws) -> (B*n_h*n_w, C, ws, ws), EMO's dilated grid of windows.

    Pixel (r, c) with r = r1*n_h + i, c = c1*n_w + j goes to window (b, i, j) at (r1, c1), the
    official `b c (h1 n1) (w1 n2) -> (b n1 n2) c h1 w1`. Done in two steps of at most 5
    dimensions instead of one 6-D permute: XNNPACK programs with a 7-D permute fail to load in
    ExecuTorch, and 5-D keeps a margin below that.
    """
    if n_h == 1 and n_w == 1:
        return x
    b, c, _, w = x.shape
    ws = window_size
    x = x.reshape(b, c * ws, n_h, w).transpose(1, 2)  # (B, n_h, C*ws, W): rows split
    x = x.reshape(b * n_h, c, ws, ws, n_w).permute(0, 4, 1, 2, 3)  # (B*n_h, n_w, C, ws, ws)
    return x.reshape(b * n_h * n_w, c, ws, ws)


def grid_reverse(x: torch.Tensor, n_h: int, n_w: int) -> torch.Tensor:
    """Inverse of `grid_partition`: (B*n_h*n_w, C, ws, ws) -> (B, C, n_h*ws, n_w*ws)."""
    if n_h == 1 and n_w == 1:
        return x
    windows, c, ws, _ = x.shape
    b = windows // (n_h * n_w)
    x = x.reshape(b * n_h, n_w, c, ws, ws).permute(0, 2, 3, 4, 1)  # (B*n_h, C, ws, ws, n_w)
    x = x.reshape(b, n_h, c * ws, ws * n_w).transpose(1, 2)  # (B, C*ws, n_h, W)
    return x.reshape(b, c, ws * n_h, ws * n_w)


class GridWindowAttention(nn.Module):
    """Multi-head self-attention within windows; the values are the input itself.

    EMO projects the values *after* attention (its `attn_pre=True`), so this module has only the
    q/k projection and returns C channels; the block's 1x1 expansion follows. Maps that are not a
    multiple of the window are zero-padded at the bottom/right (unmasked, as in the official code)
    and cropped back.
    """

    def __init__(self, dim: int, dim_head: int, window_size: int = 7, qkv_bias: bool = True):
        super().__init__()
        assert dim % dim_head == 0, f"dim {dim} is not a multiple of dim_head {dim_head}"
        self.num_heads = dim // dim_head
        self.dim_head = dim_head
        self.scale = dim_head**-0.5
        self.window_size = window_size
        self.qk = nn.Conv2d(dim, 2 * dim, 1, bias=qkv_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, c, h, w = x.shape
        ws = self.window_size
        pad_b, pad_r = -h % ws, -w % ws
        if pad_b or pad_r:
            x = F.pad(x, (0, pad_r, 0, pad_b))
        n_h, n_w = (h + pad_b) // ws, (w + pad_r) // ws
        x = grid_partition(x, ws, n_h, n_w)
        # Channels are laid out (q/k, head, dim_head), as in the official rearrange. Windows and
        # heads share the batch dimension of 3-D bmm's: XNNPACK delegates channel slices and bmm,
        # but not the select of a q/k axis nor the expand that a 4-D `@` lowers to.
        batch, tokens = x.shape[0] * self.num_heads, ws * ws
        qk = self.qk(x)
        q = qk[:, :c].reshape(batch, self.dim_head, tokens)
        k = qk[:, c:].reshape(batch, self.dim_head, tokens)
        attn = torch.bmm((q * self.scale).transpose(1, 2), k).softmax(dim=-1)  # (.., query, key)
        v = x.reshape(batch, self.dim_head, tokens)
        x = torch.bmm(v, attn.transpose(1, 2)).reshape(-1, c, ws, ws)
        x = grid_reverse(x, n_h, n_w)
        if pad_b or pad_r:
            x = x[:, :, :h, :w]
        return x


class InvertedResidualMobileBlock(nn.Module):
    """iRMB: norm, optional windowed attention, 1x1 expansion, DW conv, 1x1 projection."""

    def __init__(
        self,
        dim_in: int,
        dim_out: int,
        exp_ratio: float,
        stride: int = 1,
        kernel_size: int = 3,
        norm: type[nn.Module] | None = nn.BatchNorm2d,
        act: type[nn.Module] = nn.SiLU,
        has_skip: bool = True,
        attn_dim_head: int | None = None,
        window_size: int = 7,
        v_proj: bool = True,
        se_ratio: float = 0.0,
        qkv_bias: bool = True,
    ):
        super().__init__()
        dim_mid = int(dim_in * exp_ratio)
        self.has_skip = has_skip and dim_in == dim_out and stride == 1
        self.norm = norm(dim_in, eps=_NORM_EPS) if norm is not None else nn.Identity()
        self.attn = (
            GridWindowAttention(dim_in, attn_dim_head, window_size, qkv_bias)
            if attn_dim_head is not None
            else nn.Identity()
        )
        self.v = (
            nn.Sequential(nn.Conv2d(dim_in, dim_mid, 1, bias=qkv_bias), act())
            if v_proj
            else nn.Identity()
        )
        self.conv_local = ConvBNAct(
            dim_mid, dim_mid, kernel_size, stride, groups=dim_mid, act=nn.SiLU
        )
        self.conv_local[0][1].eps = _NORM_EPS  # ConvBN builds its BN with the default eps
        self.se = (
            SqueezeExcite(dim_mid, round(dim_mid * se_ratio), act=act)
            if se_ratio > 0
            else nn.Identity()
        )
        self.proj = nn.Conv2d(dim_mid, dim_out, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        x = self.v(self.attn(self.norm(x)))
        local = self.se(self.conv_local(x))
        x = self.proj(x + local if self.has_skip else local)
        return shortcut + x if self.has_skip else x

    @torch.no_grad()
    def fuse(self) -> nn.Module:
        # The pre-norm BN of an attention-free block feeds only the 1x1 expansion: fold it there.
        # (With attention the normed input is also the attention's value, so the BN stays.)
        plain = isinstance(self.attn, nn.Identity) and isinstance(self.v, nn.Sequential)
        if isinstance(self.norm, nn.BatchNorm2d) and plain:
            self.v[0] = fold_bn_into_next_pointwise_conv(self.norm, self.v[0])
            self.norm = nn.Identity()
        return self


class ConvBiasBN(nn.Sequential):
    """Conv2d *with* bias (the official stem keeps it), then BatchNorm2d; fuses to one conv."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, stride: int):
        super().__init__(
            nn.Conv2d(in_ch, out_ch, kernel_size, stride, kernel_size // 2, bias=True),
            nn.BatchNorm2d(out_ch, eps=_NORM_EPS),
        )

    def fuse(self) -> nn.Conv2d:
        return fold_bn_into_conv(self[0], self[1])


class EMO(nn.Module):
    """Stem (conv + one SE iRMB without norm), four iRMB stages, LN + mean pool + linear head."""

    def __init__(
        self,
        depths: tuple[int, ...],
        dims: tuple[int, ...],
        exp_ratios: tuple[float, ...],
        dim_heads: tuple[int, ...],
        stem_dim: int = 24,
        norms: tuple[type[nn.Module], ...] = (
            nn.BatchNorm2d, nn.BatchNorm2d, LayerNorm2d, LayerNorm2d
        ),
        acts: tuple[type[nn.Module], ...] = (nn.SiLU, nn.SiLU, nn.GELU, nn.GELU),
        kernel_sizes: tuple[int, ...] = (3, 3, 5, 5),
        use_attn: tuple[bool, ...] = (False, False, True, True),
        window_size: int = 7,
        num_classes: int = 1000,
    ):
        super().__init__()
        self.stem = nn.Sequential(
            ConvBiasBN(3, stem_dim, kernel_sizes[0], stride=2),
            InvertedResidualMobileBlock(
                stem_dim, stem_dim, exp_ratio=1.0, kernel_size=kernel_sizes[0], norm=None,
                act=acts[0], has_skip=False, v_proj=False, se_ratio=1.0,
            ),
        )
        stages = []
        dim_prev = stem_dim
        for i, depth in enumerate(depths):
            # The first block of a stage downsamples: stride 2, double expansion, no attention.
            blocks = [
                InvertedResidualMobileBlock(
                    dim_prev, dims[i], exp_ratio=2 * exp_ratios[i], stride=2,
                    kernel_size=kernel_sizes[i], norm=norms[i], act=acts[i], has_skip=False,
                )
            ]
            blocks += [
                InvertedResidualMobileBlock(
                    dims[i], dims[i], exp_ratio=exp_ratios[i], kernel_size=kernel_sizes[i],
                    norm=norms[i], act=acts[i],
                    attn_dim_head=dim_heads[i] if use_attn[i] else None, window_size=window_size,
                )
                for _ in range(depth - 1)
            ]
            stages.append(nn.Sequential(*blocks))
            dim_prev = dims[i]
        self.stages = nn.Sequential(*stages)
        self.norm = norms[-1](dims[-1], eps=_NORM_EPS)
        self.head = nn.Linear(dims[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.stem(x))
        # keepdim + flatten: XNNPACK takes a 4-D mean only with keepdim, else it runs undelegated.
        return self.head(self.norm(x).mean((2, 3), keepdim=True).flatten(1))


def _create_emo(**cfg) -> EMO:
    return EMO(**cfg)


_COUNTING_NOTE = (
    "Params: exact_params is the official model's count in the training form (BatchNorm weight "
    "and bias counted, the stem conv's bias kept); our training form matches it exactly, the "
    "deploy form is smaller by the folded BN parameters. MACs: ours are 1.1-2.2% below the "
    "published GMACs because the official fvcore count also charges norms (BN 2, LN 5 per "
    "element); adding those reproduces 0.261/0.439/0.903/0.961 to the published digit."
)


@register_model(
    "EMO",
    input_size=224,
    counting_note=_COUNTING_NOTE,
    exact_params=1_361_168,
    params_form="train",
)
def emo_1m():
    return _create_emo(
        depths=(2, 2, 8, 3), dims=(32, 48, 80, 168), exp_ratios=(2.0, 2.5, 3.0, 3.5),
        dim_heads=(16, 16, 20, 21),
    )


@register_model(
    "EMO",
    input_size=224,
    counting_note=_COUNTING_NOTE,
    exact_params=2_377_472,
    params_form="train",
)
def emo_2m():
    return _create_emo(
        depths=(3, 3, 9, 3), dims=(32, 48, 120, 200), exp_ratios=(2.0, 2.5, 3.0, 3.5),
        dim_heads=(16, 16, 20, 20),
    )


@register_model(
    "EMO",
    input_size=224,
    counting_note=_COUNTING_NOTE,
    exact_params=5_108_848,
    params_form="train",
)
def emo_5m():
    return _create_emo(
        depths=(3, 3, 9, 3), dims=(48, 72, 160, 288), exp_ratios=(2.0, 3.0, 4.0, 4.0),
        dim_heads=(24, 24, 32, 32),
    )


@register_model(
    "EMO",
    input_size=224,
    counting_note=_COUNTING_NOTE,
    exact_params=6_168_496,
    params_form="train",
)
def emo_6m():
    return _create_emo(
        depths=(3, 3, 9, 3), dims=(48, 72, 160, 320), exp_ratios=(2.0, 3.0, 4.0, 5.0),
        dim_heads=(16, 24, 20, 32),
    )
