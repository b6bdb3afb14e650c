"""The measurement settings are declared once (harness/bench/settings.py): the options of
`harness run`, farm.yaml's `settings:` keys and the requests' own defaults all follow the
declaration, and nothing outside it builds settings field by field."""

from __future__ import annotations

import ast
import dataclasses

import pytest
from click.testing import CliRunner

from device_runners.contract import RunRequest
from harness.bench.settings import MeasurementSettings, cli_fields, farm_settings_schema, setting_fields
from harness.cli import main
from harness.errors import UsageError
from harness.farm.config import farm_schema, parse_farm
from tests.support.paths import ROOT


def test_the_request_s_defaults_are_the_settings_defaults():
    request_defaults = {f.name: f.default for f in dataclasses.fields(RunRequest)}
    for f in setting_fields():
        if f.metadata["request"]:
            assert request_defaults[f.metadata["request"]] == f.default, f.name


def test_run_takes_every_setting_with_an_option_with_its_default():
    params = {p.name: p for p in main.commands["run"].params}
    for f in cli_fields():
        assert f.name in params, f.metadata["cli"]
        assert f.metadata["cli"] in params[f.name].opts
        default = params[f.name].default
        if f.metadata["kind"] == "trials":  # a string option: it takes "auto" too
            default = int(default)
        assert default == f.default, f.name


def test_farm_yaml_takes_every_setting_with_a_farm_key_and_nothing_else():
    keys = set(farm_schema()["properties"]["settings"]["properties"])
    assert keys == {f.metadata["farm"] for f in setting_fields() if f.metadata["farm"]} | {"jobs"}
    assert set(farm_settings_schema()) <= keys
    config = parse_farm({"name": "n", "devices": [{"name": "host"}], "models": "m",
                         "settings": {"warmup": 3, "affinity": [0], "memory_limit": 2.5,
                                      "interleave": True, "warmup_until_settled": True},
                         "cell": {"timeout": 90}})
    assert config.settings == MeasurementSettings(
        warmup_iterations=3, cpu_affinity=(0,), memory_limit_gib=2.5, interleave=True,
        warmup_until_settled=True, timeout_s=90.0)
    with pytest.raises(UsageError, match="settings.min_time"):
        parse_farm({"name": "n", "devices": [{"name": "host"}], "models": "m",
                    "settings": {"min_time": -1}})


def test_values_from_outside_are_checked_before_any_work():
    with pytest.raises(UsageError, match=r"--min-time nan: give a finite number"):
        MeasurementSettings.from_values({"min_duration_s": float("nan")})
    with pytest.raises(UsageError, match="no measurement setting bogus"):
        MeasurementSettings.from_values({"bogus": 1})
    with pytest.raises(UsageError, match="give a whole number"):
        MeasurementSettings.from_values({"trials": 2.5})
    for option, value in (("--memory-limit", "nan"), ("--cooldown", "inf"), ("--min-time", "nan"),
                          ("--timeout", "inf"), ("--export-timeout", "nan")):
        out = CliRunner().invoke(main, ["run", "--models", "repvit_m0_9", option, value])
        assert out.exit_code == 2 and "finite" in out.output, (option, out.output)


def test_settings_are_built_in_one_place():
    """`MeasurementSettings(` is called only by its own module (from_values); every other
    module goes through from_values or from_farm."""
    callers = []
    for package in ("harness", "device_runners", "benchmarks"):
        for path in (ROOT / package).rglob("*.py"):
            if path.name == "settings.py" and path.parent.name == "bench":
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == "MeasurementSettings":
                    callers.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert callers == []
