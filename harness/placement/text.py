"""The placement map in words: `harness show RUN --placement` and the site's model page.

Both read only what the record stores (harness.placement.build): nothing here imports torch.
"""

from __future__ import annotations

from harness.placement.build import CPU, placement_of

# What a unit is, for people: the runtime's own kernels are "the CPU" in every runtime.
UNIT_WORDS = {
    CPU: "CPU, outside any delegate", "xnnpack": "XNNPACK (CPU)", "gpu": "GPU", "nnapi": "NNAPI",
    "npu": "NPU", "ane": "Neural Engine", "core ml": "Core ML", "vulkan": "Vulkan (GPU)",
}


def unit_text(unit: str) -> str:
    return UNIT_WORDS.get(unit, unit)


def _share(value: float | None) -> str:
    return f"{100 * value:.1f}%" if value is not None else "n/a"


def _ms(value: float | None) -> str:
    return f"{value:.4f}" if value is not None else "n/a"


def summary_line(placement: dict) -> str:
    """`7 of 8 operators delegated (88%, export); on the CPU outside any delegate: cumsum x1;
    time: XNNPACK (CPU) 96.9%, CPU 3.1% of 0.39 ms profiled (etdump)`."""
    parts = []
    ops = placement.get("ops")
    if ops and ops.get("total"):
        parts.append(f"{ops['delegated']} of {ops['total']} operators delegated "
                     f"({ops['delegated'] / ops['total']:.0%}, {ops['source']})")
    fallback = placement.get("cpu_fallback") or {}
    if fallback:
        parts.append("on the CPU outside any delegate: "
                     + ", ".join(f"{kind} x{n}" for kind, n in fallback.items()))
    elif ops and ops.get("total") and not ops.get("cpu"):
        parts.append("none on the CPU outside a delegate")
    for line in placement.get("delegate_lines") or ():
        parts.append(f"benchmark_model: the {line['delegate']} delegate took "
                     f"{ {'complete': 'all', 'partial': 'part', 'none': 'none'}.get(line['graph'], line['graph'])}"
                     " of the graph" + (f" ({line['kernels']} kernels)" if line.get("kernels") else ""))
    if placement.get("total_ms") is not None:
        units = ", ".join(f"{unit_text(u)} {_share(v['share'])}"
                          for u, v in placement["units"].items() if v.get("share") is not None)
        parts.append(f"time: {units} of {placement['total_ms']:.4f} ms profiled "
                     f"({placement['time_source']})")
    return "; ".join(parts) or "nothing known"


def placement_table(records, top: int):
    """Every cell's map as one table (a row per operator, largest first, `top` per cell) and
    the lines under it: each cell's summary, its sources and what its map cannot say."""
    from harness.report.text import Column, TextTable

    table = TextTable([Column("model", key=True), Column("format", key=True), Column("operator"),
                       Column("kind", hide=2), Column("ran on"), Column("delegated"),
                       Column("count", "right", hide=1), Column("ms", "right"),
                       Column("share", "right")])
    after = []
    for record in records:
        placement = placement_of(record)
        label = f"{record.model} {record.format}"
        if placement is None:
            if record.status == "ok":
                after.append(f"{label}: no placement: nothing stored says where its operators "
                             "ran (no export coverage, no profile)")
            continue
        for row in placement["rows"][:top]:
            table.add_row(record.model, record.format, row["operator"], row["kind"] or "-",
                          unit_text(row["unit"]), "yes" if row["delegated"] else "NO",
                          str(row["count"]), _ms(row["ms"]), _share(row["share"]))
        hidden = len(placement["rows"]) - top
        sources = ", ".join(placement["sources"]) or "no source"
        text = f"{label}: {summary_line(placement)}; from {sources}"
        if placement.get("built_when_read"):
            text += " (built now: stored before placement maps were)"
        if hidden > 0:
            text += f"; {hidden} more rows not shown"
        after.append(text)
        after.extend(f"{label}: unknown: {u}" for u in placement.get("unknown") or ())
        layers = ((record.artifact or {}).get("details") or {}).get("layer_numerics") or {}
        if layers.get("summary") or layers.get("unavailable"):
            after.append(f"{label}: numerics per layer: {layers.get('summary') or layers['unavailable']}")
    return table, after


def site_rows(record) -> tuple[tuple[str, ...], ...]:
    """The map's rows as the model page's table shows them (operator, kind, ran on,
    delegated, count, ms, share)."""
    placement = placement_of(record)
    if placement is None:
        return ()
    return tuple((row["operator"], row["kind"] or "-", unit_text(row["unit"]),
                  "yes" if row["delegated"] else "no", str(row["count"]), _ms(row["ms"]),
                  _share(row["share"])) for row in placement["rows"])


def site_summary(record) -> tuple[str, ...]:
    """The lines over the model page's table: the summary, the sources, what is unknown."""
    placement = placement_of(record)
    if placement is None:
        return ()
    lines = [summary_line(placement) + f" (from {', '.join(placement['sources']) or 'no source'})"]
    lines += [f"Unknown: {u}" for u in placement.get("unknown") or ()]
    return tuple(lines)
