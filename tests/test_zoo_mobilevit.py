"""MobileViT: patch unfolding/folding, the BN fold, and the rank of the exported block's tensors.

The unfold/fold pair is where a rewrite goes wrong silently (a transposed patch grid still runs
and still has the right shapes), and where XNNPACK is fragile (programs with >5-D permutes fail
to load), so both are checked directly.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from harness.zoo.mobilevit import MobileViT, MobileViTBlock, fold_patches, unfold_patches
from harness.zoo.registry import fuse_model
from tests.support.models import randomise_batchnorms

ATOL = 1e-5


def test_unfold_groups_pixels_by_position_inside_the_patch():
    b, c, h, w, p = 2, 3, 4, 6, 2
    x = torch.randn(b, c, h, w)
    seqs = unfold_patches(x, p)
    assert seqs.shape == (b * p * p, (h // p) * (w // p), c)
    # Sequence (batch, i, j) holds the pixel at row i, column j of every patch, patches in
    # row-major order, channels last: the official ml-cvnets layout.
    for batch in range(b):
        for i in range(p):
            for j in range(p):
                expected = x[batch, :, i::p, j::p].reshape(c, -1).T
                torch.testing.assert_close(seqs[batch * p * p + i * p + j], expected, atol=0, rtol=0)
    torch.testing.assert_close(fold_patches(seqs, b, h, w, p), x, atol=0, rtol=0)


def _tiny_mobilevit() -> MobileViT:
    return MobileViT(
        channels=(8, 8, 16, 16, 24),
        transformer_dims=(16, 16, 24),
        expansion=2,
        transformer_depths=(1, 1, 1),
        num_classes=10,
    )


def test_deploy_form_has_no_batchnorm_and_matches():
    torch.manual_seed(0)
    model = _tiny_mobilevit()
    randomise_batchnorms(model)
    model.eval()
    deploy = fuse_model(copy.deepcopy(model)).eval()
    assert not any(isinstance(m, nn.BatchNorm2d) for m in deploy.modules())
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected, got = model(x), deploy(x)
    scale = max(1.0, expected.abs().max().item())
    torch.testing.assert_close(got, expected, atol=ATOL * scale, rtol=0)


def test_resolution_not_divisible_by_the_patch_grid_is_resized_and_restored():
    torch.manual_seed(0)
    block = MobileViTBlock(dim=8, transformer_dim=16, depth=1, num_heads=4, mlp_ratio=2.0, patch_size=2)
    block.eval()
    x = torch.randn(1, 8, 5, 7)
    with torch.no_grad():
        y = block(x)
    assert y.shape == x.shape and torch.isfinite(y).all()


def test_exported_block_stays_at_five_dimensions_or_fewer():
    # XNNPACK takes >5-D permutes but the program then fails to load ("error: 0x:1"); the whole
    # model's XNNPACK and LiteRT round trips are too slow for this file, this is their cheap guard.
    block = MobileViTBlock(dim=8, transformer_dim=16, depth=1, num_heads=4, mlp_ratio=2.0, patch_size=2)
    block = fuse_model(block.eval()).eval()
    graph = torch.export.export(block, (torch.randn(1, 8, 8, 8),)).graph
    ranks = {
        str(node.target): node.meta["val"].dim()
        for node in graph.nodes
        if node.op == "call_function" and isinstance(node.meta.get("val"), torch.Tensor)
    }
    assert any("permute" in op or "transpose" in op for op in ranks)
    assert max(ranks.values()) <= 5, ranks
