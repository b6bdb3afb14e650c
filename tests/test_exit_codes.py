"""One rule for exit codes, per command (harness/exit_codes.py, the README's table): a misspelt
model, format, device or run, or a farm.yaml that cannot be used, is a usage error, exit 2, found
before any work, on every command that takes it."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from harness import exit_codes
from harness.cli import main
from tests.support.paths import ROOT, TINY


def farm_yaml(tmp_path, models="tiny_models_typo", formats="executorch"):
    path = tmp_path / "farm.yaml"
    path.write_text(f"name: nightly\ndevices: [{{name: host}}]\nmodels: [{models}]\n"
                    f"formats: [{formats}]\nresults: {{db: {tmp_path / 'farm.db'}, out: {tmp_path / 'out'}}}\n")
    return str(path)


USAGE = [
    ("run, a misspelt model", lambda t: ["run", "--models", "repvit_m0_8"], "Unknown model 'repvit_m0_8'"),
    ("run, a misspelt format", lambda t: ["run", "--models", TINY, "--formats", "tflit"], "Unknown format 'tflit'"),
    ("run, a misspelt device", lambda t: ["run", "--models", TINY, "--device", "pixle7"], "No device matches 'pixle7'"),
    ("run, no models", lambda t: ["run"], "Say which models"),
    ("export, a misspelt model", lambda t: ["export", "--models", "repvit_m0_8"], "Unknown model"),
    ("export, a misspelt format", lambda t: ["export", "--models", TINY, "--formats", "onx"], "Unknown format 'onx'"),
    ("farm check, a misspelt model", lambda t: ["farm", "check", farm_yaml(t)], "Unknown model 'tiny_models_typo'"),
    ("farm check, a misspelt format", lambda t: ["farm", "check", farm_yaml(t, "repvit_m0_9", "tflit")], "Unknown format 'tflit'"),
    ("farm run, a misspelt model", lambda t: ["farm", "run", farm_yaml(t)], "Unknown model 'tiny_models_typo'"),
    ("compare, no such run", lambda t: ["compare", "nosuchrun", "latest", "--db", str(t / "h.db")], "No run 'nosuchrun'"),
    ("show, no such run", lambda t: ["show", "nosuchrun", "--db", str(t / "h.db")], "No run 'nosuchrun'"),
    ("models, a misspelt family", lambda t: ["models", "--family", "mobilnet"], "Did you mean mobilenet"),
]


@pytest.fixture
def some_db(tmp_path):
    from harness.store import Store

    with Store(tmp_path / "h.db") as store:
        store.finish_run(store.begin_run({"device_id": "host"}, {}, "harness run", None, "0"))
    return tmp_path


@pytest.mark.parametrize("case", USAGE, ids=[c[0] for c in USAGE])
def test_a_usage_error_exits_2_with_one_line(case, some_db, monkeypatch):
    _, argv, words = case
    monkeypatch.chdir(some_db)
    out = CliRunner().invoke(main, argv(some_db))
    assert out.exit_code == exit_codes.USAGE, out.output
    lines = [line for line in out.output.splitlines() if line.strip()]
    assert len(lines) == 1 and words in lines[0], out.output
    assert not (some_db / "farm.db").exists() and not (some_db / "cache").exists()


def test_the_readme_table_names_every_code_and_the_commands_it_covers():
    readme = (ROOT / "README.md").read_text()
    header = next(line for line in readme.splitlines() if line.startswith("| code |"))
    assert [c.strip() for c in header.strip("|").split("|")][1:] == ["run", "export", "compare", "farm run"]
    codes = {int(m.group(1)) for m in re.finditer(r"^\| (\d+) \|", readme, re.M)}
    assert codes == {exit_codes.OK, exit_codes.ERROR, exit_codes.USAGE, exit_codes.SOME_FAILED,
                     exit_codes.NOTHING_DONE, exit_codes.INTERRUPTED}
