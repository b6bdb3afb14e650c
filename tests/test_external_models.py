"""Models from outside the zoo, and local weights."""

import pytest
import torch
from click.testing import CliRunner

from tests.support.paths import TESTS, TINY
from harness.cli import main
from harness.errors import HarnessError
from harness.zoo import create_model, resolve_models


def test_file_factory_takes_its_input_shape_from_the_factory():
    [spec] = resolve_models(TINY)
    assert spec.name == "tiny_models_tiny_convnet" and spec.family == "external"
    assert spec.input_shape == (1, 3, 32, 32)
    assert create_model(spec)(torch.zeros(spec.input_shape)).shape == (1, 10)


def test_module_factory_and_explicit_input_shape():
    [spec] = resolve_models("tests.tiny_models:slow_convnet", input_shape=(1, 3, 48, 48))
    assert spec.input_shape == (1, 3, 48, 48) and spec.origin == "tests.tiny_models"


@pytest.mark.parametrize("ref, message", [
    ("nowhere/net.py:build", "does not exist"),
    (f"{TESTS / 'tiny_models.py'}:no_such_factory", "has no function 'no_such_factory'"),
    ("no_such_package.models:build", "Cannot import module"),
    ("timm:resnet18", "timm"),
])
def test_bad_references_give_one_clear_line(ref, message):
    with pytest.raises(HarnessError, match=message) as info:
        resolve_models(ref, input_shape=(1, 3, 32, 32))
    assert "\n" not in str(info.value)


def test_non_square_or_batched_shapes_are_refused():
    with pytest.raises(HarnessError, match="1,C,S,S"):
        resolve_models(TINY, input_shape=(4, 3, 32, 32))


def _trained_state(seed=7):
    from tests.tiny_models import tiny_convnet

    torch.manual_seed(seed)
    return tiny_convnet().state_dict()


def test_weights_from_pth_and_safetensors_are_loaded(tmp_path):
    from safetensors.torch import save_file

    state = _trained_state()
    torch.save(state, tmp_path / "w.pth")
    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp_path / "w.safetensors"))
    x = torch.randn(1, 3, 32, 32)
    outs = []
    for name in ("w.pth", "w.safetensors"):
        [spec] = resolve_models(TINY, weights=str(tmp_path / name))
        model = create_model(spec, seed=0)
        assert torch.equal(model[0].weight, state["0.weight"])
        outs.append(model(x))
    assert torch.allclose(outs[0], outs[1])
    [plain] = resolve_models(TINY)
    assert not torch.allclose(create_model(plain, seed=0)(x), outs[0])


def test_weights_change_the_cache_key(tmp_path):
    from harness.export.base import get_format
    from harness.export.cache import cache_key

    torch.save(_trained_state(1), tmp_path / "a.pth")
    torch.save(_trained_state(2), tmp_path / "b.pth")
    fmt = get_format("executorch")
    [a] = resolve_models(TINY, weights=str(tmp_path / "a.pth"))
    [b] = resolve_models(TINY, weights=str(tmp_path / "b.pth"))
    [none] = resolve_models(TINY)
    assert len({cache_key(a, fmt, 0), cache_key(b, fmt, 0), cache_key(none, fmt, 0)}) == 3


def test_mismatched_weights_name_the_keys(tmp_path):
    state = _trained_state()
    state["extra.weight"] = torch.zeros(1)
    del state["7.bias"]
    state["0.weight"] = torch.zeros(4, 3, 3, 3)
    torch.save(state, tmp_path / "bad.pth")
    [spec] = resolve_models(TINY, weights=str(tmp_path / "bad.pth"))
    with pytest.raises(HarnessError) as info:
        create_model(spec)
    text = str(info.value)
    assert "1 missing (e.g. 7.bias)" in text and "1 unexpected (e.g. extra.weight)" in text
    assert "0.weight" in text and "(4, 3, 3, 3)" in text


def test_weights_with_several_models_is_refused_by_the_cli(tmp_path):
    torch.save(_trained_state(), tmp_path / "w.pth")
    out = CliRunner().invoke(main, ["run", "--models", f"{TINY},tests.tiny_models:slow_convnet",
                                    "--weights", str(tmp_path / "w.pth")])
    assert out.exit_code == 2 and "--weights belongs to one model" in out.output
