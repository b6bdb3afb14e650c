"""Every list of formats the user sees derives from the registry, so none can drift: a format
registered once appears everywhere formats are listed."""

from __future__ import annotations

from click.testing import CliRunner

from harness.cli import main
from harness.export.base import all_formats


def test_run_help_lists_every_registered_format():
    help_text = " ".join(CliRunner().invoke(main, ["run", "--help"], terminal_width=10_000).output.split())
    missing = [f.name for f in all_formats() if f"{f.name} (" not in help_text]
    assert not missing, missing
    assert "executorch-vulkan (" in help_text
