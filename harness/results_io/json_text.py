"""Reading a structured file's text: JSON (one document, or one per line) and YAML, with the
line of any damage in the one error an import raises."""

from __future__ import annotations

import json
import re
from pathlib import Path

from harness.data_shape import MAX_DEPTH
from harness.results_io.cells import ImportFileError

_LONG_NUMBER = re.compile(r"\d{1000,}")


def _unreadable(path: Path, text: str, exc: Exception, offset: int = 0) -> ImportFileError:
    """What Python's parsers refuse beyond the syntax: nesting too deep for their recursion,
    an integer too long to convert."""
    if isinstance(exc, RecursionError):
        return ImportFileError(path, None, f"data nested at most {MAX_DEPTH} deep (it nests "
                                           "deeper than the parser can follow)")
    found = _LONG_NUMBER.search(text)
    line = offset + text[:found.start()].count("\n") + 1 if found else None
    return ImportFileError(path, line, "numbers of at most 4300 digits")


def load_json(path: Path, text: str):
    """The file's JSON: one document, or JSON lines (ClickHouse's JSONEachRow, as PyTorch's
    benchmark uploader writes and reads them), each line an object or a list of objects, read
    as one list. A line that is neither is an error naming the line: nothing is skipped."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg != "Extra data":
            raise ImportFileError(path, exc.lineno,
                                  f"JSON ({exc.msg} at column {exc.colno})") from None
    except (RecursionError, ValueError) as exc:
        raise _unreadable(path, text, exc) from None
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ImportFileError(path, number, f"one JSON object or list per line (JSON lines; "
                                  f"{exc.msg} at column {exc.colno})") from None
        except (RecursionError, ValueError) as exc:
            raise _unreadable(path, line, exc, number - 1) from None
        if isinstance(value, dict):
            rows.append(value)
        elif isinstance(value, list) and all(isinstance(v, dict) for v in value):
            rows.extend(value)
        else:
            raise ImportFileError(path, number, "a JSON object or a list of objects on this line")
    return rows


def load_yaml(path: Path, text: str):
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or "well-formed YAML"
        raise ImportFileError(path, mark.line + 1 if mark else None,
                              f"YAML ({problem})") from None
    except (RecursionError, ValueError) as exc:
        raise _unreadable(path, text, exc) from None
