"""How the commands write to stdout: plain text that fits the terminal, or JSON, and a closed
pipe that is not an error.

Width: on a terminal, $COLUMNS when set, else the terminal's own; output to a pipe or a file is
never fitted or wrapped (harness.report.text), whatever $COLUMNS says (a shell may export it),
unless $HARNESS_WIDTH asks for a width by name (a report written for a fixed width, the tests). Progress and the run's estimate go
to stderr (rich), so stdout holds only the results, and `--json` holds only JSON.

A reader that closes the pipe early (`harness show latest --samples | head`) ends the output,
not the command: the rest is discarded and the command finishes with its own exit code.
"""

from __future__ import annotations

import os
import shutil
import sys

import click

from harness.report.text import Notes, TextTable, wrap_prose

_closed = False


def _positive(name: str) -> int | None:
    value = os.environ.get(name, "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else None


def output_width() -> int | None:
    """The width to fit tables to (module docstring); None: do not fit."""
    forced = _positive("HARNESS_WIDTH")
    if forced:
        return forced
    if sys.stdout.isatty():
        return _positive("COLUMNS") or shutil.get_terminal_size().columns
    return None


def pipe_closed() -> bool:
    return _closed


def echo(text: str = "") -> None:
    """One line (or several) to stdout; after the reader has gone, nothing."""
    echo_raw(text + "\n")


def echo_raw(text: str) -> None:
    """`text` to stdout as it is (a piece of a file being exported); after the reader has gone,
    nothing."""
    global _closed
    if _closed:
        return
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        _closed = True
        # Python flushes stdout again at exit; point it at /dev/null so that fails quietly.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
        except (OSError, ValueError):  # stdout without a file descriptor (CliRunner)
            pass


def echo_lines(lines) -> None:
    for line in lines:
        if _closed:
            return
        echo(line)


def echo_prose(text: str, indent: str = "") -> None:
    echo_lines(wrap_prose(text, output_width(), indent))


def echo_table(table: TextTable, notes: Notes | None = None, wide: bool = False,
               after: list[str] = ()) -> None:
    """A table fitted to the output (every column with `wide`), then lines about it, then its
    numbered notes."""
    width = None if wide else output_width()
    echo_lines(table.render(width))
    for line in after:
        if line:
            echo_prose(line)
    if notes is not None and notes.texts:
        echo_notes(notes)


def echo_notes(notes: Notes) -> None:
    """The numbered notes a table's cells point to, after a blank line."""
    echo()
    echo("notes:")
    echo_lines(notes.lines(output_width()))


def echo_json(text: str) -> None:
    echo(text)


json_option = click.option(
    "--json", "as_json", is_flag=True,
    help="Print JSON instead of tables (shapes: docs/measurement.md, \"JSON output\").")

wide_option = click.option(
    "--wide", is_flag=True, help="Show every column, whatever the terminal's width.")
