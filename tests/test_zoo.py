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


def _size(spec) -> float:
    facts = spec.published
    return facts.macs_g if facts and facts.macs_g is not None else float("inf")


# The default tier builds and exports the smallest model of each family; the others, whose
# blocks are the same but larger, are the slow tier's (each 2-4 s on two cores).
SMALLEST = {min((s for s in SPECS if s.family == family), key=_size).name
            for family in {s.family for s in SPECS}}
BUILD_PARAMS = [pytest.param(s, id=s.name, marks=() if s.name in SMALLEST else pytest.mark.slow)
                for s in SPECS]


def test_the_zoo_has_every_published_model():
    from harness.zoo.registry import published_facts

    assert {s.name for s in SPECS} >= set(published_facts())


@pytest.mark.parametrize("spec", BUILD_PARAMS)
def test_counts_match_published(spec):
    row = check_spec(spec)
    assert row.ok, row.why


@pytest.mark.parametrize("spec", BUILD_PARAMS)
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


def test_the_index_is_what_the_registry_holds():
    """harness/zoo/index.json lets `harness models` list the zoo without importing torch; it
    must never drift from the registry (regenerate: python -m harness.zoo.index --write)."""
    import json

    from harness.zoo.index import INDEX_PATH, build_index

    assert json.loads(INDEX_PATH.read_text()) == build_index()


def test_commands_that_only_read_import_neither_torch_nor_a_runtime(tmp_path):
    import subprocess
    import sys

    heavy = ("torch", "executorch", "ai_edge_litert", "onnxruntime", "coremltools", "litert_torch")
    probe = ("import sys; from click.testing import CliRunner; from harness.cli import main; "
             "r = CliRunner().invoke(main, sys.argv[1:]); "
             f"print([m for m in {heavy!r} if m in sys.modules])")
    env = {"HARNESS_DB": str(tmp_path / "none.db"), "PATH": "/usr/bin:/bin"}
    for args in (["models"], ["devices"], ["show", "latest"], ["report"], ["compare", "a", "b"]):
        out = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True,
                             env={**__import__("os").environ, **env}, timeout=120)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip().splitlines()[-1] == "[]", (args, out.stdout)
