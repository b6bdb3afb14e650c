"""Every list of formats the user sees derives from the registry, so none can drift: a format
registered once appears everywhere formats are listed (its FormatSpec holds its place in
tables, its export estimate and the papers' runtimes it reproduces), and no module outside the
exporters writes its own list of formats."""

from __future__ import annotations

import ast
import json

from click.testing import CliRunner

from harness.cli import main
from harness.export.base import all_formats
from harness.export.index import INDEX_PATH, build_index, format_names
from harness.report.paper_check import default_formats, paper_formats
from tests.support.paths import ROOT


def test_the_index_is_what_the_registry_holds():
    assert json.loads(INDEX_PATH.read_text()) == build_index(), (
        "harness/export/index.json is stale: run `python -m harness.export.index --write`")


def test_run_help_lists_every_registered_format():
    help_text = " ".join(CliRunner().invoke(main, ["run", "--help"], terminal_width=10_000).output.split())
    missing = [f.name for f in all_formats() if f"{f.name} (" not in help_text]
    assert not missing, missing
    assert "executorch-vulkan (" in help_text


def test_every_format_has_its_place_in_the_tables_and_the_paper_check():
    registered = {f.name for f in all_formats()}
    assert set(format_names()) == registered
    listed = {label.partition("@")[0] for label in default_formats()}
    assert listed == registered  # the paper check can stand any format in
    for f in all_formats():
        assert f.export_estimate_s > 0, f.name
        for name in f.paper_names:
            assert f.name in {label.partition("@")[0] for label in paper_formats()[name]}


def test_no_module_writes_its_own_list_of_formats():
    """A tuple, list or set literal naming three formats or more, outside the exporters, is a
    copy that will drift (FORMAT_ORDER, DEFAULT_EXPORT_S and PAPER_FORMATS once were)."""
    names = set(format_names())
    copies = []
    for package in ("harness", "device_runners"):
        for path in (ROOT / package).rglob("*.py"):
            if path.parent.name == "export":
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, (ast.Tuple, ast.List, ast.Set, ast.Dict)):
                    items = node.keys if isinstance(node, ast.Dict) else node.elts
                    strings = {n.value for n in items if isinstance(n, ast.Constant) and isinstance(n.value, str)}
                    if len(strings & names) >= 3:
                        copies.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert copies == []
