"""Plain-text tables for terminals and pipes: a figure is never cut, a line never wrapped.

A `TextTable` prints every cell whole, on one line, each column as wide as its widest cell.
Given a width (a terminal's, or $COLUMNS), a table wider than that hides its optional columns,
the least important first, until it fits, and says which it hid; one that still does not fit
is split into several tables that repeat its key columns (the side-by-side table of many
formats), or printed as it is (a terminal then folds the line; the text stays whole). Without
a width (output to a pipe or a file) every column of the view is printed.

Reasons and warnings do not fit in a column: `Notes` numbers them (the same text once), the
table's cells name the numbers, and the notes follow the table, each wrapped at the width as
prose (words are never broken) or on one line each without one.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field

GAP = "  "
_MARKDOWN = re.compile(r"([\\`*\[\]|])")


def md_text(text) -> str:
    """`text` as literal Markdown on one line, safe in a table cell: `|`, backslashes, code,
    emphasis and link brackets escaped, HTML's `<`, `>` and `&` as entities (a renderer that
    passes HTML through must not meet a tag from a model's or a device's name)."""
    text = " ".join(str(text).split())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MARKDOWN.sub(r"\\\1", text)


@dataclass(frozen=True)
class Column:
    """A column: `title` (a "\\n" gives a second header line), right-aligned figures or
    left-aligned text, and `hide`: 0 never hidden, else hidden before any column of a lower
    number when the table is too wide. `key` columns are repeated when a table is split."""

    title: str
    align: str = "left"  # "left" or "right"
    hide: int = 0
    key: bool = False

    @property
    def title_lines(self) -> list[str]:
        return self.title.split("\n")


@dataclass
class Notes:
    """Numbered notes under a table; `ref(text)` gives a text's number (the same text, one note)."""

    texts: list[str] = field(default_factory=list)

    def ref(self, text: str) -> int:
        text = " ".join(text.split())  # a note is one paragraph
        if text not in self.texts:
            self.texts.append(text)
        return self.texts.index(text) + 1

    def refs(self, texts) -> str:
        """`1-3,5` for the given texts (empty ones skipped), "" for none."""
        numbers = sorted({self.ref(t) for t in texts if t})
        runs: list[list[int]] = []
        for n in numbers:
            if runs and n == runs[-1][-1] + 1:
                runs[-1].append(n)
            else:
                runs.append([n])
        return ",".join(f"{r[0]}-{r[-1]}" if len(r) > 2 else ",".join(map(str, r)) for r in runs)

    def lines(self, width: int | None) -> list[str]:
        out = []
        digits = len(str(len(self.texts)))
        for i, text in enumerate(self.texts, 1):
            label = f"[{i}]".rjust(digits + 2) + " "
            if width is None:
                out.append(label + text)
                continue
            out.extend(textwrap.wrap(text, width=max(width, 40), initial_indent=label,
                                     subsequent_indent=" " * len(label), break_long_words=False,
                                     break_on_hyphens=False))
        return out


@dataclass
class TextTable:
    columns: list[Column]
    rows: list[list[str]] = field(default_factory=list)
    title: str = ""

    def add_row(self, *cells: str) -> None:
        if len(cells) != len(self.columns):
            raise ValueError(f"a row of {len(cells)} cells for {len(self.columns)} columns")
        self.rows.append([str(c) for c in cells])

    # --- layout ---------------------------------------------------------------------------

    def _widths(self, indices: list[int]) -> list[int]:
        widths = []
        for i in indices:
            cells = [row[i] for row in self.rows] + self.columns[i].title_lines
            widths.append(max(len(c) for c in cells))
        return widths

    def width_of(self, indices: list[int]) -> int:
        return sum(self._widths(indices)) + len(GAP) * (len(indices) - 1) if indices else 0

    def _fitting(self, width: int | None) -> tuple[list[int], list[int]]:
        """(shown, hidden) column indices: hide optional columns until the table fits."""
        shown = list(range(len(self.columns)))
        hidden: list[int] = []
        if width is None:
            return shown, hidden
        optional = sorted((i for i, c in enumerate(self.columns) if c.hide),
                          key=lambda i: (-self.columns[i].hide, -i))
        for i in optional:
            if self.width_of(shown) <= width:
                break
            shown.remove(i)
            hidden.append(i)
        return shown, hidden

    def _chunks(self, shown: list[int], width: int | None) -> list[list[int]]:
        """The shown columns, split into tables that fit, each repeating the key columns."""
        if width is None or self.width_of(shown) <= width:
            return [shown]
        keys = [i for i in shown if self.columns[i].key]
        rest = [i for i in shown if i not in keys]
        if not keys or not rest:
            return [shown]
        chunks, current = [], []
        for i in rest:
            if current and self.width_of(keys + current + [i]) > width:
                chunks.append(keys + current)
                current = []
            current.append(i)
        chunks.append(keys + current)
        return chunks

    def _render_part(self, indices: list[int]) -> list[str]:
        widths = self._widths(indices)
        header_lines = max(len(self.columns[i].title_lines) for i in indices)

        def line(cells: list[str]) -> str:
            parts = []
            for i, w, text in zip(indices, widths, cells):
                parts.append(text.rjust(w) if self.columns[i].align == "right" else text.ljust(w))
            return GAP.join(parts).rstrip()

        out = []
        for h in range(header_lines):
            out.append(line([(self.columns[i].title_lines + [""] * header_lines)[h] for i in indices]))
        out.append(GAP.join("-" * w for w in widths))
        out.extend(line([row[i] for i in indices]) for row in self.rows)
        return out

    def render(self, width: int | None = None) -> list[str]:
        """The table's lines (title first), fitted to `width` as the module docstring says."""
        shown, hidden = self._fitting(width)
        out = [self.title] if self.title else []
        for n, part in enumerate(self._chunks(shown, width)):
            if n:
                out.append("")
            out.extend(self._render_part(part))
        if hidden:
            names = ", ".join(self.columns[i].title.replace("\n", " ") for i in sorted(hidden))
            out.extend(wrap_prose(f"(hidden to fit {width} columns: {names}; --wide shows every "
                                  "column)", width))
        return out


def wrap_prose(text: str, width: int | None, indent: str = "") -> list[str]:
    """A paragraph wrapped at `width` (never breaking a word), or one line without a width."""
    if width is None:
        return [indent + text]
    return textwrap.wrap(text, width=max(width, 40), initial_indent=indent,
                         subsequent_indent=indent + "  ", break_long_words=False,
                         break_on_hyphens=False) or [indent]
