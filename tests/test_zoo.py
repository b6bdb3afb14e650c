"""Registry-driven checks: registering a model adds it here, so no model lands untested.

For every registered model: parameter and MAC counts against the published ones (the same check
as `harness models --check`), the training and deploy forms agree, and torch.export accepts the
deploy form. Export to each runtime format is covered per format in the exporter tests and for
the whole zoo by benchmarks/export_matrix.py.
"""

import pytest
import torch

from harness.zoo import create_model, list_models
from harness.zoo.check import check_spec

# Deploy (fused) and training forms must agree to this fraction of the output's largest magnitude.
# Folding BN and merging branches only reorders fp32 arithmetic; deep nets accumulate ~1e-5.
TRAIN_DEPLOY_RTOL = 1e-4

SPECS = list_models()


def test_the_zoo_has_every_published_model():
    from harness.zoo.registry import published_facts

    assert {s.name for s in SPECS} >= set(published_facts())


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_counts_match_published(spec):
    row = check_spec(spec)
    assert row.ok, row.why


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_deploy_form_matches_training_form_and_exports(spec):
    train = create_model(spec, seed=3, deploy=False)
    deploy = create_model(spec, seed=3, deploy=True)
    x = torch.randn(spec.input_shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        a, b = train(x), deploy(x)
    assert a.shape == (1, 1000)
    scale = a.abs().max().item()
    assert (a - b).abs().max().item() <= TRAIN_DEPLOY_RTOL * max(scale, 1.0)
    ep = torch.export.export(deploy, (x,))
    assert ep.module()(x).shape == (1, 1000)
