"""Delegation contracts: farm.yaml's `expect:` rules, judged on each cell's placement map.

    expect:
      - device: pixel7              # optional: every device when absent
        format: [executorch, tflite] # optional: a format label or a list (`tflite@gpu` exactly)
        model: repvit_m0_9          # optional: every model when absent
        delegated_ops: ">= 0.95"    # operators delegated, as a fraction of all
        cpu_fallback_ops: 0         # operators run on the CPU outside any delegate (at most)
        delegated_time: ">= 0.9"    # profiled time spent in delegates, as a fraction
        max_op_share: {"aten.gelu": 0.10}   # an operator kind's share of the profiled time

A bound is a number, or a comparison as a string (`">= 0.95"`, `"< 3"`, `"== 0"`); a bare
number bounds in the rule's own direction (at least for `delegated_*`, at most for the others).
`max_op_share` names operators as any runtime does (`aten.gelu`, `GELU`, `gelu`: they are one
kind, harness.placement.kinds). Rules on time (`delegated_time`, `max_op_share`) need an
operator profile: a farm with such a rule profiles every cell it applies to.

A rule a cell breaks fails the cell (the verdict `contract broken`, or its own failing verdict
with the breach in its notes), naming the operators that broke it. A rule that cannot be judged
(no operator profile, nothing saying where the operators ran) fails it too, saying why: a
contract nobody checked is not one that held.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass, field

from harness.placement.build import CPU, placement_of
from harness.placement.kinds import matches

CONTRACT_BROKEN = "contract broken"

_COMPARISONS = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt,
                "==": operator.eq}
_BOUND = re.compile(r"^\s*(>=|<=|==|>|<)?\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*$")
# Each rule's direction when its bound is a bare number, and whether it needs times.
RULES = {"delegated_ops": (">=", False), "cpu_fallback_ops": ("<=", False),
         "delegated_time": (">=", True)}


class ContractError(ValueError):
    """An `expect:` rule that cannot be read; the message names the key."""


@dataclass(frozen=True)
class Bound:
    op: str
    value: float

    def holds(self, x: float) -> bool:
        return _COMPARISONS[self.op](x, self.value)

    def __str__(self) -> str:
        return f"{self.op} {self.value:g}"


def parse_bound(value, default_op: str, where: str) -> Bound:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ContractError(f"{where}: give a number or a comparison such as \">= 0.95\", not {value!r}")
    match = _BOUND.match(str(value))
    if not match:
        raise ContractError(f"{where}: {value!r} is not a number or a comparison such as \">= 0.95\"")
    return Bound(match[1] or default_op, float(match[2]))


@dataclass(frozen=True)
class Expectation:
    """One block of `expect:`: where it applies and its rules."""

    device: str | None = None
    formats: tuple[str, ...] | None = None
    model: str | None = None
    bounds: dict[str, Bound] = field(default_factory=dict)  # rule name -> bound
    max_op_share: dict[str, float] = field(default_factory=dict)

    def applies(self, device: str, model: str, fmt: str) -> bool:
        return ((self.device is None or self.device == device)
                and (self.formats is None or fmt in self.formats)
                and (self.model is None or self.model.lower() == model.lower()))

    @property
    def needs_profile(self) -> bool:
        return bool(self.max_op_share) or any(RULES[name][1] for name in self.bounds)

    def text(self) -> str:
        rules = [f"{name} {bound}" for name, bound in self.bounds.items()]
        rules += [f"max_op_share {op} <= {share:g}" for op, share in self.max_op_share.items()]
        return ", ".join(rules)


def parse_expectations(data, source: str = "farm.yaml") -> tuple[Expectation, ...]:
    """farm.yaml's `expect:` list (its shape already checked by farm.schema.json)."""
    out = []
    for index, block in enumerate(data or ()):
        where = f"{source}: expect[{index}]"
        bounds = {name: parse_bound(block[name], RULES[name][0], f"{where}.{name}")
                  for name in RULES if name in block}
        shares = {}
        for op, share in (block.get("max_op_share") or {}).items():
            if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share <= 1:
                raise ContractError(f"{where}.max_op_share.{op}: a share between 0 and 1, not {share!r}")
            shares[str(op)] = float(share)
        if not bounds and not shares:
            raise ContractError(f"{where}: no rule; give delegated_ops, cpu_fallback_ops, "
                                "delegated_time or max_op_share")
        fmt = block.get("format")
        formats = (fmt,) if isinstance(fmt, str) else tuple(fmt) if fmt else None
        out.append(Expectation(device=block.get("device"), formats=formats,
                               model=block.get("model"), bounds=bounds, max_op_share=shares))
    return tuple(out)


def needs_profile(expectations, device: str) -> bool:
    """Whether any rule on `device` is about time, so its cells must be profiled."""
    return any(e.needs_profile and (e.device is None or e.device == device) for e in expectations)


def _rows_text(rows: list[dict], limit: int = 5) -> str:
    parts = []
    for row in rows[:limit]:
        time = f" {row['ms']:.3f} ms, {100 * row['share']:.1f}%" if row.get("share") is not None else ""
        parts.append(f"{row['operator']} x{row['count']}{time}")
    more = f", and {len(rows) - limit} more" if len(rows) > limit else ""
    return ", ".join(parts) + more


def _cpu_rows(placement: dict) -> list[dict]:
    return [r for r in placement["rows"] if r["unit"] == CPU and r["kind"]]


def _fallback_text(placement: dict) -> str:
    rows = _cpu_rows(placement)
    if rows:
        return _rows_text(rows)
    fallback = placement.get("cpu_fallback") or {}
    return ", ".join(f"{kind} x{n}" for kind, n in fallback.items()) or "operators not named by its source"


def judge(expectation: Expectation, placement: dict | None, why_no_profile: str = "") -> list[str]:
    """The rules of `expectation` this map breaks (or cannot judge), one line each, naming the
    operators that broke them."""
    if placement is None:
        return [(f"{expectation.text()}: cannot be checked: nothing stored says where this "
                 "cell's operators ran")]
    broken = []
    ops, timed = placement.get("ops"), placement.get("total_ms") is not None
    no_time = ("no operator profile" + (f" ({why_no_profile})" if why_no_profile else "")
               if not timed else "")
    for name, bound in expectation.bounds.items():
        rule = f"{name} {bound}"
        if name == "delegated_ops":
            if not ops or not ops.get("total"):
                broken.append(f"{rule}: cannot be checked: no operator counts")
                continue
            fraction = ops["delegated"] / ops["total"]
            if not bound.holds(fraction):
                broken.append(f"{rule} broken: {ops['delegated']} of {ops['total']} operators "
                              f"delegated ({fraction:.3f}, {ops['source']}); on the CPU outside "
                              f"any delegate: {_fallback_text(placement)}")
        elif name == "cpu_fallback_ops":
            partial = [e for e in placement.get("delegate_lines") or () if e.get("graph") in ("partial", "none")]
            if not ops and partial and not bound.holds(1):
                e = partial[0]
                broken.append(f"{rule} broken: benchmark_model says the {e['delegate']} delegate "
                              f"took {'none' if e['graph'] == 'none' else 'part'} of the graph: at "
                              "least one operator ran on the CPU (an op profile names them)")
                continue
            if not ops:
                broken.append(f"{rule}: cannot be checked: no operator counts")
                continue
            if not bound.holds(ops["cpu"]):
                broken.append(f"{rule} broken: {ops['cpu']} operator{'s' if ops['cpu'] != 1 else ''}"
                              f" on the CPU outside any delegate ({ops['source']}): "
                              f"{_fallback_text(placement)}")
        elif name == "delegated_time":
            if no_time:
                broken.append(f"{rule}: cannot be checked: {no_time}")
                continue
            share = sum(u["share"] or 0.0 for u in placement["units"].values() if u["delegated"])
            if not bound.holds(share):
                broken.append(f"{rule} broken: {share:.3f} of the profiled time in delegates; "
                              f"outside them: {_rows_text(sorted(_cpu_rows(placement), key=lambda r: -(r['ms'] or 0)))}")
    for op, limit in expectation.max_op_share.items():
        rule = f"max_op_share {op} <= {limit:g}"
        if no_time:
            broken.append(f"{rule}: cannot be checked: {no_time}")
            continue
        rows = [r for r in placement["rows"] if r["kind"] and matches(op, r["operator"], r["kind"])]
        share = sum(r["share"] or 0.0 for r in rows)
        if share > limit:
            broken.append(f"{rule} broken: {share:.3f} of the profiled time: {_rows_text(rows)}")
    return broken


def breaches(expectations, device: str, record) -> list[str]:
    """Every broken rule of the `expect:` blocks that apply to this measured cell."""
    if record.status != "ok" or record.result is None:
        return []  # not measured: the cell fails as broken, or is unsupported, already
    applying = [e for e in expectations if e.applies(device, record.model, record.format)]
    if not applying:
        return []
    placement = placement_of(record)
    profile = record.result.context.get("operator_profile") or {}
    return [line for e in applying for line in judge(e, placement, profile.get("unavailable", ""))]
