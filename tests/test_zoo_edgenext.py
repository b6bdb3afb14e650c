"""EdgeNeXt: the SDTA block's parts and the layer-scale fold.

The official layer-scale init is 1e-6, so in a freshly built model every residual branch is
almost zero and the registry-wide train-vs-deploy test cannot see a wrong fold. Here the scales
are randomised first. The other tests pin down the parts where a rewrite of the official code
could silently differ: the positional encoding (written without the official mask and cumsum),
the split-and-cascade order, and the channel attention's reshapes.
"""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from harness.zoo.edgenext import (
    ConvEncoder,
    CrossCovarianceAttention,
    EdgeNeXt,
    LayerScale,
    PositionalEncodingFourier,
    SDTAEncoder,
    SplitDepthwiseCascade,
)
from harness.zoo.registry import fuse_model

# Float32 on O(1) activations; folding a scale into a Linear changes one rounding per output.
ATOL = 1e-5


def _randomise_layer_scales(module: nn.Module) -> None:
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, LayerScale):
                m.gamma.uniform_(0.5, 1.5)


def _train_and_deploy(module: nn.Module) -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(0)
    _randomise_layer_scales(module)
    module.eval()
    # fuse_model replaces children in place; keep the training form intact for the comparison.
    return module, fuse_model(copy.deepcopy(module)).eval()


def _official_fourier_features(height: int, width: int, hidden: int = 32) -> torch.Tensor:
    """The official PositionalEncodingFourier before its projection: mask, cumsum, stack."""
    not_mask = torch.ones(1, height, width, dtype=torch.bool)
    y = not_mask.cumsum(1, dtype=torch.float32)
    x = not_mask.cumsum(2, dtype=torch.float32)
    y = y / (y[:, -1:, :] + 1e-6) * 2 * math.pi
    x = x / (x[:, :, -1:] + 1e-6) * 2 * math.pi
    dim_t = torch.arange(hidden, dtype=torch.float32)
    dim_t = 10000 ** (2 * (dim_t // 2) / hidden)
    pos_x = x[:, :, :, None] / dim_t
    pos_y = y[:, :, :, None] / dim_t
    pos_x = torch.stack((pos_x[:, :, :, 0::2].sin(), pos_x[:, :, :, 1::2].cos()), dim=4).flatten(3)
    pos_y = torch.stack((pos_y[:, :, :, 0::2].sin(), pos_y[:, :, :, 1::2].cos()), dim=4).flatten(3)
    return torch.cat((pos_y, pos_x), dim=3).permute(0, 3, 1, 2)


def test_positional_encoding_matches_official_formula():
    pos = PositionalEncodingFourier(dim=12)
    # Make the projection the identity on the first 12 features and read them back.
    with torch.no_grad():
        pos.token_projection = nn.Conv2d(64, 64, 1)
        pos.token_projection.weight.copy_(torch.eye(64).reshape(64, 64, 1, 1))
        pos.token_projection.bias.zero_()
        got = pos(6, 10)
    torch.testing.assert_close(got, _official_fourier_features(6, 10), atol=1e-6, rtol=0)


def test_cascade_feeds_each_group_into_the_next_and_passes_the_last_through():
    torch.manual_seed(0)
    cascade = SplitDepthwiseCascade(dim=88, scales=3).eval()
    assert cascade.group_bounds == [(0, 30), (30, 60), (60, 88)]
    x = torch.randn(1, 88, 5, 5)
    bumped = x.clone()
    bumped[:, :30] += 1.0  # change only the first group
    with torch.no_grad():
        out, out_bumped = cascade(x), cascade(bumped)
    torch.testing.assert_close(out[:, 60:], x[:, 60:])  # last group untouched
    assert not torch.allclose(out[:, 30:60], out_bumped[:, 30:60])  # group 2 sees group 1
    torch.testing.assert_close(out_bumped[:, 60:], out[:, 60:])


def test_channel_attention_is_equivariant_to_token_order():
    # Attention between channels sums over tokens, so permuting the tokens permutes the output
    # the same way; mixing up the token and channel axes in the reshapes breaks this.
    torch.manual_seed(0)
    xca = CrossCovarianceAttention(dim=16, num_heads=4).eval()
    x = torch.randn(2, 10, 16)
    order = torch.randperm(10)
    with torch.no_grad():
        torch.testing.assert_close(xca(x[:, order]), xca(x)[:, order], atol=1e-6, rtol=0)
        # ...and the heads are not independent of the token content (not a per-token map).
        assert not torch.allclose(xca(x[:, :5]), xca(x)[:, :5], atol=1e-3)


@pytest.mark.parametrize(
    "block",
    [
        lambda: ConvEncoder(dim=16, kernel_size=5, expansion=4, layer_scale_init=1e-6),
        lambda: SDTAEncoder(16, scales=3, num_heads=4, expansion=4, layer_scale_init=1e-6, use_pos_embed=True),
    ],
    ids=["conv_encoder", "sdta_encoder"],
)
def test_layer_scales_fold_into_the_linear_layers(block):
    train, deploy = _train_and_deploy(block())
    assert not any(isinstance(m, LayerScale) for m in deploy.modules())
    x = torch.randn(2, 16, 8, 8)
    with torch.no_grad():
        expected, got = train(x), deploy(x)
    assert not torch.allclose(expected, x, atol=0.1)  # the branches contribute
    torch.testing.assert_close(got, expected, atol=ATOL, rtol=0)


def test_small_edgenext_deploy_form_matches_at_another_resolution():
    model = EdgeNeXt(dims=(8, 16, 24, 32), depths=(1, 2, 2, 2), num_heads=4, num_classes=10)
    train, deploy = _train_and_deploy(model)
    x = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        expected, got = train(x), deploy(x)
    assert got.shape == (2, 10)
    scale = max(1.0, expected.abs().max().item())
    torch.testing.assert_close(got, expected, atol=ATOL * scale, rtol=0)
