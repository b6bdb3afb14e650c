"""EMO specifics: the dilated window grid, the attention against the official formula, BN folding,
and the rank of every reshape in the exported graph (XNNPACK cannot load 7-D permutes).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from harness.zoo.emo import (
    EMO,
    GridWindowAttention,
    InvertedResidualMobileBlock,
    grid_partition,
    grid_reverse,
)
from harness.zoo.registry import fuse_model
from tests.support.models import randomise_batchnorms


def _official_partition(x: torch.Tensor, ws: int, n_h: int, n_w: int) -> torch.Tensor:
    """einops `b c (h1 n1) (w1 n2) -> (b n1 n2) c h1 w1` written as one 6-D permute."""
    b, c, _, _ = x.shape
    x = x.reshape(b, c, ws, n_h, ws, n_w).permute(0, 3, 5, 1, 2, 4)
    return x.reshape(b * n_h * n_w, c, ws, ws)


def _official_attention(attn: GridWindowAttention, x: torch.Tensor) -> torch.Tensor:
    """The official iRMB attention (attn_pre=True, before the v projection), transcribed."""
    b, c, h, w = x.shape
    ws = attn.window_size
    pad_r, pad_b = (ws - w % ws) % ws, (ws - h % ws) % ws
    x = F.pad(x, (0, pad_r, 0, pad_b, 0, 0))
    n1, n2 = (h + pad_b) // ws, (w + pad_r) // ws
    x = _official_partition(x, ws, n1, n2)
    heads, dim_head = attn.num_heads, attn.dim_head
    qk = attn.qk(x).reshape(-1, 2, heads, dim_head, ws * ws).permute(1, 0, 2, 4, 3)
    q, k = qk[0], qk[1]  # (windows, heads, tokens, dim_head)
    attn_map = ((q @ k.transpose(-2, -1)) * attn.scale).softmax(dim=-1)
    v = x.reshape(-1, heads, dim_head, ws * ws).transpose(-2, -1)
    out = (attn_map @ v).transpose(-2, -1).reshape(-1, c, ws, ws)
    out = out.reshape(b, n1, n2, c, ws, ws).permute(0, 3, 4, 1, 5, 2)
    return out.reshape(b, c, ws * n1, ws * n2)[:, :, :h, :w]


@pytest.mark.parametrize("n_h,n_w", [(2, 2), (1, 3), (3, 1)])
def test_grid_partition_is_the_official_dilated_grid_and_reverses(n_h, n_w):
    x = torch.randn(2, 5, 7 * n_h, 7 * n_w)

    windows = grid_partition(x, 7, n_h, n_w)

    assert torch.equal(windows, _official_partition(x, 7, n_h, n_w))
    assert torch.equal(grid_reverse(windows, n_h, n_w), x)


@pytest.mark.parametrize("size", [(14, 14), (7, 7), (10, 12), (5, 5)])
def test_window_attention_matches_official_formula(size):
    torch.manual_seed(0)
    attn = GridWindowAttention(dim=16, dim_head=4, window_size=7).eval()
    x = torch.randn(2, 16, *size)

    with torch.no_grad():
        got, expected = attn(x), _official_attention(attn, x)

    assert got.shape == x.shape
    # Attention output is a convex mix of inputs; a wrong window layout would differ by O(1).
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)


def test_plain_block_folds_its_pre_norm_into_the_expansion_conv():
    torch.manual_seed(0)
    block = InvertedResidualMobileBlock(16, 16, exp_ratio=2.0, norm=nn.BatchNorm2d)
    randomise_batchnorms(block)
    block.eval()
    x = torch.randn(2, 16, 9, 9)
    with torch.no_grad():
        expected = block(x)

        fused = fuse_model(block)
        got = fused(x)

    assert not any(isinstance(m, nn.BatchNorm2d) for m in fused.modules())
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)


def _tiny_emo() -> EMO:
    # Same macro design as emo_1m (BN/BN/LN/LN, attention in stages 3-4), a fraction of its width.
    return EMO(depths=(1, 1, 2, 2), dims=(16, 16, 32, 32), exp_ratios=(1.0, 1.0, 1.0, 1.0),
               dim_heads=(8, 8, 8, 8), num_classes=10)


def test_deploy_form_has_no_batchnorm_and_matches_training_form():
    torch.manual_seed(0)
    model = _tiny_emo()
    randomise_batchnorms(model)
    model.eval()
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        expected = model(x)
        deployed = fuse_model(model)
        got = deployed(x)

    assert not any(isinstance(m, nn.BatchNorm2d) for m in deployed.modules())
    torch.testing.assert_close(got, expected, atol=1e-4 * expected.abs().max().item(), rtol=0)


def test_exported_graph_reshapes_stay_within_five_dimensions():
    model = fuse_model(_tiny_emo().eval())
    ep = torch.export.export(model, (torch.randn(1, 3, 224, 224),))

    ranks = [
        len(node.meta["val"].shape)
        for node in ep.graph.nodes
        if node.op == "call_function"
        and any(op in str(node.target) for op in ("permute", "view", "reshape", "transpose"))
    ]
    # Stage 3 at 14x14 has 2x2 windows, so the partition really runs (not the 1-window shortcut).
    assert 5 in ranks
    assert max(ranks) <= 5
