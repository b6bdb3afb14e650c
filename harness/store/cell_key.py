"""What a cell is, defined once: one model in one format on one device, with one setting of
everything that changes its latency.

    device      the device's id
    model       the model's name
    format      the export format, and `variant` the runtime variant it ran in (Core ML's compute
                units: the label `coreml@cpu_and_ne`; `format_label` / `parse_format_label`)
    backend     what the artifact was built for (its delegate), and `precision`
    threads     the runtime threads the run asked for (else what the result says)
    placement   the CPUs the run pinned to (None: any CPU)
    cores       the cluster a phone run asked for (`--cores prime`; "" for the default)
    input       the input shape
    mode        "" for a burst of trials, "sustained 600 s" for one long trial: a cell of its
                own (part of `identity`), never compared with the burst

The leaderboard keeps the newest record of each cell (`Store.latest_records`) and groups the
tables by device and placement; `compare` and the farm match a cell across runs by
`CellKey.identity` (device, model, format label) and name what else differs
(`CellKey.differences`), since a setting that slows a cell down is what a comparison must catch;
the site keeps each cell's history. All of them get their keys from `CellKey.of`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping


def format_label(fmt: str, variant: str = "") -> str:
    """The format as records name it: `coreml`, or `coreml@cpu_and_ne` for a runtime variant
    (given as `cpu_and_ne` or as the runner's `coreml:cpu_and_ne`)."""
    if not variant:
        return fmt
    return f"{fmt}@{variant.partition(':')[2] or variant}"


def parse_format_label(label: str) -> tuple[str, str]:
    """(format, variant) of a record's format label; variant "" for the format's own."""
    fmt, _, variant = label.partition("@")
    return fmt, variant


def base_format(label: str) -> str:
    return parse_format_label(label)[0]


@dataclass(frozen=True)
class CellKey:
    device: str
    model: str
    format: str
    variant: str = ""
    backend: str = ""
    precision: str = ""
    threads: int | None = None
    placement: tuple[int, ...] | None = None
    input: tuple[int, ...] | None = None
    cores: str = ""
    mode: str = ""
    # False for an imported record whose file never said which CPUs ran it; not part of the
    # cell (a file's record is its own cell already, by its device).
    placement_known: bool = field(default=True, compare=False)

    @property
    def label(self) -> str:
        return format_label(self.format, self.variant)

    @property
    def identity(self) -> tuple[str, str, str]:
        """(device, model, format label, with the mode when not a burst): how a cell is matched
        from one run to another."""
        return (self.device, self.model, f"{self.label} ({self.mode})" if self.mode else self.label)

    @property
    def settings(self) -> tuple:
        """Everything but device, model and format: what `differences` compares."""
        return (self.backend, self.precision, self.threads, self.placement, self.input, self.cores)

    def differences(self, other: "CellKey") -> list[str]:
        """What differs between two keys of one identity, as `threads 1 -> 2`."""
        changed = []
        for name in ("backend", "precision", "threads", "placement", "input", "cores"):
            a, b = getattr(self, name), getattr(other, name)
            if a != b:
                changed.append(f"{name} {_text(a)} -> {_text(b)}")
        return changed

    @classmethod
    def of(cls, record, run=None) -> "CellKey":
        """The key of a stored record, from its run's configuration (what was asked) and its
        result and artifact (what ran)."""
        result = record.result
        context = result.context if result is not None else {}
        return key_from(
            device=record.device_id, model=record.model, label=record.format,
            bench=(run.config.get("bench") or {}) if run else {},
            cli=(run.config.get("cli") or {}) if run else {},
            result_threads=result.threads if result else None,
            result_cpus=result.cpu_affinity if result else None,
            context_input=context.get("input"), imported=context.get("imported") or {},
            context_cores=context.get("cores"), context_sustained=context.get("sustained"),
            input_size=record.model_info.get("input_size"),
            artifact=record.artifact or {},
            result_backend=result.backend if result else "",
            result_precision=result.precision if result else "")


def key_from(*, device: str, model: str, label: str, bench: Mapping[str, Any], cli: Mapping[str, Any],
             result_threads, result_cpus, context_input, imported: Mapping[str, Any], input_size,
             artifact: Mapping[str, Any], result_backend: str = "", result_precision: str = "",
             context_cores=None, context_sustained=None) -> CellKey:
    """The key from the stored parts it is made of (`Store.latest_records` reads only these)."""
    threads = bench.get("threads", result_threads)
    cpus = bench.get("cpu_affinity") if "cpu_affinity" in bench else result_cpus
    if imported:  # another tool's settings: only what its file said (harness.results_io)
        threads = imported.get("threads")
    shape = context_input.get("shape") if isinstance(context_input, dict) else None
    if not shape and cli.get("input_shape"):
        shape = cli["input_shape"]
    if not shape and artifact.get("details", {}).get("input_shape"):  # a file given as it is
        shape = artifact["details"]["input_shape"]
    if not shape and input_size:
        shape = (1, 3, input_size, input_size)
    fmt, variant = parse_format_label(label)
    return CellKey(device=device, model=model, format=fmt, variant=variant,
                   backend=artifact.get("backend") or result_backend or "",
                   precision=artifact.get("precision") or result_precision or "",
                   threads=threads, placement=tuple(cpus) if cpus else None,
                   input=tuple(int(v) for v in shape) if shape else None,
                   cores=str(context_cores.get("asked") or "") if isinstance(context_cores, dict) else "",
                   mode=sustained_mode(context_sustained),
                   placement_known=not imported)


def sustained_mode(sustained) -> str:
    """A sustained cell's mode, "sustained 600 s", from its context (harness.bench.sustained)."""
    if isinstance(sustained, dict) and sustained.get("seconds"):
        return f"sustained {float(sustained['seconds']):g} s"
    return ""


def _text(value) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, tuple):
        return ",".join(map(str, value)) if value else "none"
    return str(value) or "''"


def newest_per_cell(rows, loads) -> list[int]:
    """Of stored records, as `Store.latest_record_ids` selects their columns (a mapping per row;
    `loads` reads a JSON column), the id of the record that stands for each cell: a whole record
    before one cut short by an interrupted run, then the newest."""
    chosen: dict[CellKey, tuple[bool, int]] = {}
    for row in rows:
        cli_shape, given_shape = loads(row["cli_shape"]), loads(row["given_shape"])
        key = key_from(
            device=row["device_id"], model=row["model"], label=row["format"],
            bench=loads(row["bench"]) or {}, cli={"input_shape": cli_shape} if cli_shape else {},
            result_threads=row["result_threads"], result_cpus=loads(row["result_cpus"]),
            context_input=loads(row["context_input"]), imported=loads(row["imported"]) or {},
            input_size=row["input_size"],
            artifact={"backend": row["backend"], "precision": row["artifact_precision"],
                      "details": {"input_shape": given_shape} if given_shape else {}},
            result_backend=row["result_backend"] or "", result_precision=row["result_precision"] or "",
            # strings and numbers come as they are from either database, not as JSON text
            context_cores={"asked": row["cores_asked"]} if row["cores_asked"] else None,
            context_sustained={"seconds": float(row["sustained_s"])} if row["sustained_s"] else None)
        trials, planned = row["trials"], row["planned"]
        whole = not (row["status"] == "ok" and trials is not None and planned is not None
                     and trials < planned)
        rank = (whole, row["id"])  # a whole record first, then the newest
        if key not in chosen or rank > chosen[key]:
            chosen[key] = rank
    return sorted(record_id for _, record_id in chosen.values())
