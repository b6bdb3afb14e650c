"""One-line reasons for converter errors: the operator at fault and the converter's own message.

Converters bury the useful part: ONNX leads with three lines of boilerplate and names the node in
the exception's cause, litert-torch appends the FX node and a traceback, coremltools names the op
in its own words. `one_line_reason` walks the exception chain, takes the first message whose
first line names an operator (else the outermost one) and prefixes the operator when any message
in the chain names one:

    aten.special_bessel_j0.default: RuntimeError: Lowering not found: aten.special_bessel_j0.default

The full traceback is never lost: the pipeline logs it to the run's log file.
"""

from __future__ import annotations

import re

MAX_REASON_CHARS = 300

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
# How converters name an operator, most specific first.
_OPERATOR_PATTERNS = (
    re.compile(r"\b((?:aten|prims|quantized_decomposed)(?:\.|::)[A-Za-z_][\w.]*)"),  # torch / litert / onnx / executorch
    re.compile(r"Unsupported fx node (\w+)"),                                      # coremltools (torch.export)
    re.compile(r"convert function for op '(\w+)' not implemented"),              # coremltools (TorchScript)
    re.compile(r"[Oo]perator (\S+) is not"),                                       # executorch edge dialect checks
    re.compile(r"Node number \d+ \((\w+)\) failed"),                                  # LiteRT interpreter at invoke
)


def _chain(exc: BaseException) -> list[BaseException]:
    seen, out = set(), []
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        out.append(exc)
        exc = exc.__cause__ or exc.__context__
    return out


def _first_line(exc: BaseException) -> str:
    lines = [ln.strip() for ln in _ANSI.sub("", str(exc)).splitlines() if ln.strip()]
    return lines[0] if lines else ""


def operator_in(text: str) -> str | None:
    for pattern in _OPERATOR_PATTERNS:
        match = pattern.search(text)
        if match:
            return match.group(1).rstrip(".")
    return None


def one_line_reason(exc: BaseException) -> str:
    """`[operator: ]Type: first meaningful line`, at most MAX_REASON_CHARS characters."""
    chain = _chain(exc)
    # Prefer a message whose first line names the operator (ONNX: the cause, not the
    # boilerplate); else the outermost message, with an operator named anywhere in the chain.
    chosen = next((e for e in chain if operator_in(_first_line(e))), chain[0])
    operator = operator_in(_first_line(chosen)) or next(
        (op for op in (operator_in(_ANSI.sub("", str(e))) for e in chain) if op), None)
    line = _first_line(chosen)
    text = f"{type(chosen).__name__}: {line}" if line else type(chosen).__name__
    if operator:
        text = f"{operator}: {text}"
    return text if len(text) <= MAX_REASON_CHARS else text[: MAX_REASON_CHARS - 3] + "..."
