"""Mobile-Former: the dynamic ReLU, BatchNorm folding, and the published MAC convention.

The registry-wide test builds models with the official initialisation (linear weights N(0, 0.01)),
under which every DyReLU starts as a plain ReLU and the cross-attention is nearly uniform; the
checks here use hand-set or large random weights so that those paths carry signal.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from harness.zoo.counting import count_macs_fvcore
from harness.zoo.mobileformer import DynamicReLU, MobileFormer
from harness.zoo.registry import create_model, fuse_model, get_spec

ATOL = 1e-5


def test_dynamic_relu_applies_max_of_two_slopes_from_token_zero():
    act = DynamicReLU(token_dim=4, channels=2, reduction=2)
    with torch.no_grad():
        # Zero weights: the coefficients are h_sigmoid(bias) whatever the tokens say.
        # h_sigmoid(z) = clamp(z / 6 + 0.5, 0, 1): biases 3, 0 -> s1 = (1, 0.5); -1.5, 3 -> s2 = (0.25, 1).
        act.coefficients[2].weight.zero_()
        act.coefficients[2].bias.copy_(torch.tensor([3.0, 0.0, -1.5, 3.0]))
    # a1 = 2(s1 - 0.5) + 1 = (2, 1); a2 = 2(s2 - 0.5) = (-0.5, 1).
    x = torch.tensor([[-2.0, 3.0], [-2.0, 3.0]]).reshape(1, 2, 2, 1)  # channel 0: (-2, 3); channel 1: (-2, 3)
    tokens = torch.randn(1, 3, 4)
    expected = torch.tensor([[1.0, 6.0], [-2.0, 3.0]]).reshape(1, 2, 2, 1)
    torch.testing.assert_close(act(x, tokens), expected)


def test_dynamic_relu_reads_only_token_zero():
    torch.manual_seed(0)
    act = DynamicReLU(token_dim=8, channels=4)
    x = torch.randn(2, 4, 3, 3)
    tokens = torch.randn(2, 3, 8)
    other_tokens_changed = tokens.clone()
    other_tokens_changed[:, 1:] += 5.0
    token0_changed = tokens.clone()
    token0_changed[:, 0] += 5.0
    with torch.no_grad():
        base = act(x, tokens)
        torch.testing.assert_close(act(x, other_tokens_changed), base)
        assert not torch.allclose(act(x, token0_changed), base, atol=1e-3)


def _small_grouped_model() -> MobileFormer:
    """Every block kind, grouped 1x1 convs with shuffles, random BN state and large linears."""
    torch.manual_seed(0)
    model = MobileFormer(
        stem_chs=8,
        lite_block=(12, 3, 2),
        blocks=(("mobile", 12, 3), ("down", 24), ("mobile", 32, 4)),
        num_tokens=3,
        token_dim=16,
        head_features=64,
        groups=4,
        num_classes=10,
    )
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Linear):
                m.weight.normal_(0.0, 0.3)
                m.bias.uniform_(-0.5, 0.5)
            elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    return model.eval()


def test_deploy_form_folds_every_batchnorm_and_matches_training_form():
    model = _small_grouped_model()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = model(x)
        deploy = fuse_model(model).eval()
        got = deploy(x)

    assert not any(isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) for m in deploy.modules())
    assert expected.std() > 0.1  # the weights above make the output depend on the input
    torch.testing.assert_close(got, expected, atol=ATOL * max(1.0, expected.abs().max().item()), rtol=0)


@pytest.mark.parametrize(
    "name, published_m",
    [
        ("mobileformer_26m", 26.0),
        ("mobileformer_52m", 51.8),
        ("mobileformer_96m", 96.3),
        ("mobileformer_151m", 152.0),
        ("mobileformer_214m", 215.3),
        ("mobileformer_294m", 295.4),
        ("mobileformer_508m", 510.6),
    ],
)
def test_published_macs_are_fvcore_counts_of_the_training_form(name, published_m):
    spec = get_spec(name)
    macs = count_macs_fvcore(create_model(spec, deploy=False), spec.input_shape)
    assert round(macs / 1e6, 1) == published_m
