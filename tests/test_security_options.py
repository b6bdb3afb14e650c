"""Trust boundaries, numbers (issue 26, point 15; docs/security.md): every number any command
takes, on its command line or in a farm.yaml, is finite and within its bounds, checked when it is
read, before any work: one line, exit 2. `nan` passes every bound click checks (a comparison with
nan is false), so each option is tried with it, and with `inf`.
"""

from __future__ import annotations

import click
import pytest
import yaml
from click.testing import CliRunner

from harness.cli import main
from harness.cli.options import Number
from tests.support.cli import harness_cli, one_line


def _commands(group: click.Group, path=()):
    ctx = click.Context(group)
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            yield from _commands(command, (*path, name))
        else:
            yield (*path, name), command, command.get_params(ctx)


def _number_options():
    """(command path, option flag, its arguments) of every option that takes a number."""
    found = []
    for path, command, params in _commands(main):
        arguments = [p for p in params if isinstance(p, click.Argument) and p.required]
        for param in params:
            if isinstance(param, click.Option) and not param.is_flag and isinstance(param.type, Number):
                found.append((path, param.opts[0], ["x"] * len(arguments)))
    return found


NUMBER_OPTIONS = _number_options()


def test_every_number_option_is_a_checked_number():
    """No option takes click's own numbers, which let nan and inf through."""
    loose = [(path, p.opts[0]) for path, _, params in _commands(main) for p in params
             if isinstance(p, click.Option) and isinstance(p.type, (click.types.FloatParamType,
                                                                    click.types.IntParamType))]
    assert loose == []
    flags = {flag for _, flag, _ in NUMBER_OPTIONS}
    assert {"--memory-limit", "--timeout", "--min-time", "--cooldown", "--export-timeout",
            "--threads", "--jobs", "--thermal-gate", "--threshold", "--older-than", "--max-cells",
            "--port"} <= flags


@pytest.mark.parametrize("path, flag, arguments", NUMBER_OPTIONS,
                         ids=[f"{' '.join(p)} {f}" for p, f, _ in NUMBER_OPTIONS])
def test_nan_and_inf_are_one_line_before_any_work(path, flag, arguments, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    env = {"HARNESS_DB": str(tmp_path / "h.db"), "HARNESS_CACHE": str(tmp_path / "cache")}
    for value in ("nan", "inf", "-inf"):
        out = CliRunner().invoke(main, [*path, flag, value, *arguments], env=env)
        assert out.exit_code == 2, (path, flag, value, out.output)
        assert f"{flag} {value}: give a finite number" in one_line(out.output)
    assert list(tmp_path.iterdir()) == []  # no database, no cache, no file


def test_harness_run_with_a_nan_memory_limit_is_one_line(tmp_path):
    out = harness_cli("run", "--models", "repvit_m0_9", "--memory-limit", "nan", cwd=tmp_path,
                      env={"HARNESS_DB": str(tmp_path / "h.db")}, check=2)
    assert one_line(out.stderr) == "Error: --memory-limit nan: give a finite number at least 0."
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("key, value", [
    ("settings", {"min_time": float("nan")}), ("settings", {"cooldown": float("inf")}),
    ("settings", {"memory_limit": float("nan")}), ("settings", {"export_timeout": float("nan")}),
    ("cell", {"timeout": float("inf")}), ("cell", {"visibility_timeout": float("nan")}),
    ("health", {"min_battery": float("nan")}), ("health", {"thermal_gate": float("nan")}),
    ("baseline", {"threshold": float("nan")}), ("notify", {"timeout": float("inf")}),
])
def test_farm_yaml_s_numbers_are_finite(tmp_path, monkeypatch, key, value):
    path = tmp_path / "farm.yaml"
    path.write_text(yaml.safe_dump({"name": "n", "devices": [{"name": "host"}],
                                    "models": "repvit_m0_9", key: value}))
    monkeypatch.chdir(tmp_path)
    out = CliRunner().invoke(main, ["farm", "check", str(path)])
    [(name, number)] = value.items()
    assert out.exit_code == 2, out.output
    assert f"{key}.{name}: expected a finite number, not {number}" in one_line(out.output)
