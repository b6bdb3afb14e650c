"""RepViT re-parameterisation: each fuse() must compute exactly what its training form computes.

The registry-wide test compares whole models built with the official initialisation, where the
last BN of every FFN starts with weight 0, so the FFN branches are zero and their fusion goes
untested. Here every BatchNorm gets random affine parameters and running statistics first.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from harness.zoo.registry import fuse_model
from harness.zoo.repvit import RepViT, RepViTClassifier, RepVggDw

# Float32 on O(1) activations; the fused forms reorder a handful of additions per output.
ATOL = 1e-5


def _randomise_batchnorms(module: nn.Module) -> None:
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)


def _eval_pair(module: nn.Module) -> tuple[nn.Module, nn.Module]:
    """The training form with random BN state and its fused deploy form, both in eval mode."""
    torch.manual_seed(0)
    _randomise_batchnorms(module)
    module.eval()
    fused = module.fuse()
    fused.eval()
    return module, fused


@pytest.mark.parametrize("kernel_size", [3, 5])
def test_token_mixer_fuses_into_one_depthwise_conv(kernel_size):
    mixer, fused = _eval_pair(RepVggDw(dim=8, kernel_size=kernel_size))

    assert isinstance(fused, nn.Conv2d)
    assert fused.groups == 8 and fused.kernel_size == (kernel_size, kernel_size)
    x = torch.randn(2, 8, 9, 9)
    with torch.no_grad():
        expected, got = mixer(x), fused(x)
    # The identity branch alone would make a wrong fusion look close; demand the full sum.
    assert not torch.allclose(expected, x, atol=0.1)
    torch.testing.assert_close(got, expected, atol=ATOL, rtol=0)


@pytest.mark.parametrize("distillation", [True, False])
def test_classifier_fuses_into_one_linear(distillation):
    head, fused = _eval_pair(RepViTClassifier(dim=16, num_classes=10, distillation=distillation))

    assert isinstance(fused, nn.Linear)
    assert (fused.in_features, fused.out_features) == (16, 10)
    x = torch.randn(4, 16)
    with torch.no_grad():
        expected, got = head(x), fused(x)
    torch.testing.assert_close(got, expected, atol=ATOL, rtol=0)


def test_distillation_head_is_averaged_not_dropped():
    head, fused = _eval_pair(RepViTClassifier(dim=16, num_classes=10, distillation=True))
    x = torch.randn(4, 16)
    with torch.no_grad():
        main_only = head.head.fuse()(x)
        assert not torch.allclose(fused(x), main_only, atol=1e-3)


def test_small_repvit_deploy_form_matches_and_has_no_batchnorm():
    torch.manual_seed(0)
    model = RepViT(embed_dim=(16, 32), depth=(2, 1), num_classes=10)
    _randomise_batchnorms(model)
    model.eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        expected = model(x)
        deploy = fuse_model(model).eval()
        got = deploy(x)

    assert not any(isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) for m in deploy.modules())
    # Scale the tolerance by the output range: 20 fused layers in a row.
    scale = max(1.0, expected.abs().max().item())
    torch.testing.assert_close(got, expected, atol=ATOL * scale, rtol=0)
