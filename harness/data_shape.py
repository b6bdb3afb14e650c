"""The shape of data parsed from a file, checked before anything reads it: how deep it nests, how
many values it holds, that its keys are text and its numbers finite.

JSON and YAML parse into values that code then walks recursively and compares: a document nested
10,000 deep, a YAML alias bomb (716 bytes that expand into millions of values), a date or a
number as a mapping's key beside text keys (sorting them fails), `.nan` or `1e999` where a
figure goes. `check_shape` walks the value once, without recursion, and stops at the first such
thing with its place (`precisions.float.components[2]`), so the reader meets only data of a
shape it can handle, and the user one line saying where the file is wrong.

The walk counts every value it visits, an alias's every time it is reached: `max_values` bounds
what an alias bomb can expand to before anything is built from it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MAX_DEPTH = 64


@dataclass
class ShapeProblem(Exception):
    """Where (a key path; "" for the top level) and what was expected there."""

    where: str
    expected: str

    def __str__(self) -> str:
        return f"{self.where or '(top level)'}: expected {self.expected}"


def key_path(parts) -> str:
    """`a.b[2].c` from the keys and indexes on the way (a long one cut, for one line)."""
    path = ""
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path if len(path) <= 100 else path[:97] + "..."


def _parts(link) -> list:
    """The keys of a path kept as (key, parent) links, from the top."""
    parts = []
    while link is not None:
        key, link = link
        parts.append(key)
    return parts[::-1]


def _key_text(key) -> str:
    return f"the {type(key).__name__} {key}" if not isinstance(key, str) else repr(key)


def check_shape(data, *, max_depth: int = MAX_DEPTH, max_values: int | None = None) -> int:
    """The number of values in `data` (counting an alias each time it is reached); ShapeProblem
    at the first value nested deeper than `max_depth`, beyond `max_values`, with a key that is
    not text, or a number that is not finite."""
    limit = max_values if max_values is not None else math.inf
    stack = [(data, None, 0)]  # (value, its path as (key, parent) links, depth)
    count = 0

    def problem(link, expected: str) -> ShapeProblem:
        return ShapeProblem(key_path(_parts(link)), expected)

    while stack:
        value, link, depth = stack.pop()
        if depth > max_depth:
            raise problem(link, f"data nested at most {max_depth} deep")
        items = value.items() if isinstance(value, dict) else enumerate(value) \
            if isinstance(value, list) else ()
        for key, item in items:
            count += 1
            if count > limit:
                raise problem((key, link), f"at most {max_values:,} values in the whole file (YAML "
                                           "aliases that repeat others count each time)")
            if not isinstance(key, (str, int)) or (isinstance(key, int) and isinstance(value, dict)):
                raise problem(link, f"text keys, not {_key_text(key)} (quote it)")
            if isinstance(item, (dict, list)):
                stack.append((item, (key, link), depth + 1))
            elif isinstance(item, float) and not math.isfinite(item):
                raise problem((key, link), f"a finite number, not {item}")
    if isinstance(data, float) and not math.isfinite(data):
        raise ShapeProblem("", f"a finite number, not {data}")
    return count + 1
