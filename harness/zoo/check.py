"""`harness models --check`: our parameter and MAC counts against the published ones.

Tolerances: parameters within 1% and MACs within 3% of published.csv; where zoo-notes gives an
exact parameter count (Mobile-Former, EMO, ...) the count must be exact, and where it gives MACs
to 0.1M (Mobile-Former) ours must round to that figure. Published numbers are rounded to the
digits the paper prints, so the tolerance is never tighter than half a unit of the last printed
digit. MACs are counted by the convention the published figure used (the spec's
`macs_convention`): FlopCounterMode on the deploy form, or fvcore's on the training form.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.zoo.counting import count_macs, count_macs_fvcore, count_params
from harness.zoo.registry import ModelSpec, create_model

PARAMS_TOLERANCE = 0.01
MACS_TOLERANCE = 0.03
# zoo-notes prints MACs to 0.1M: ours must round to the printed figure.
EXACT_MACS_ROUNDING = 50_000


def _rounding_slack(published: float) -> float:
    """Half a unit of the last digit printed, relative to the value (e.g. 0.8 -> 0.05/0.8)."""
    text = repr(published)
    decimals = len(text.split(".")[1]) if "." in text else 0
    return 0.5 * 10 ** (-decimals) / published


@dataclass(frozen=True)
class CheckRow:
    model: str
    params: int
    macs: int
    params_ref: float | None  # absolute count
    macs_ref: float | None
    params_exact: bool
    ok: bool
    why: str
    macs_convention: str = "flop_counter"
    macs_exact: bool = False

    @staticmethod
    def _delta(ours, ref):
        return "n/a" if not ref else f"{(ours - ref) / ref:+.2%}"

    @property
    def params_ref_text(self):
        if self.params_ref is None:
            return "n/a"
        return f"{int(self.params_ref):,} (exact)" if self.params_exact else f"{self.params_ref / 1e6:.2f}M"

    @property
    def macs_ref_text(self):
        if self.macs_ref is None:
            return "n/a"
        if self.macs_exact:
            return f"{self.macs_ref / 1e6:.1f}M (exact, {self.macs_convention})"
        return f"{self.macs_ref / 1e9:.3f}G"

    @property
    def params_delta_text(self):
        return self._delta(self.params, self.params_ref)

    @property
    def macs_delta_text(self):
        return self._delta(self.macs, self.macs_ref)


def check_spec(spec: ModelSpec) -> CheckRow:
    deploy = create_model(spec, deploy=True)
    needs_train = spec.params_form != "deploy" or spec.macs_convention == "fvcore"
    train = create_model(spec, deploy=False) if needs_train else None
    params = count_params(deploy if spec.params_form == "deploy" else train)
    if spec.macs_convention == "fvcore":
        macs = count_macs_fvcore(train, spec.input_shape)
    else:
        macs = count_macs(deploy, spec.input_shape)
    pub = spec.published
    problems = []
    params_ref = macs_ref = None
    if spec.exact_params is not None:
        params_ref = float(spec.exact_params)
        if params != spec.exact_params:
            problems.append(f"params {params:,} != exact {spec.exact_params:,}")
    elif pub and pub.params_m:
        params_ref = pub.params_m * 1e6
        tol = max(PARAMS_TOLERANCE, _rounding_slack(pub.params_m))
        if abs(params - params_ref) / params_ref > tol:
            problems.append(f"params off by {(params - params_ref) / params_ref:+.1%} (limit {tol:.1%})")
    if spec.exact_macs is not None:
        macs_ref = float(spec.exact_macs)
        if abs(macs - macs_ref) > EXACT_MACS_ROUNDING:
            problems.append(f"MACs {macs / 1e6:.2f}M do not round to the exact {macs_ref / 1e6:.1f}M "
                            f"({spec.macs_convention} count)")
    elif pub and pub.macs_g:
        macs_ref = pub.macs_g * 1e9
        tol = max(MACS_TOLERANCE, _rounding_slack(pub.macs_g))
        if abs(macs - macs_ref) / macs_ref > tol:
            problems.append(f"MACs off by {(macs - macs_ref) / macs_ref:+.1%} (limit {tol:.1%})")
    if params_ref is None and macs_ref is None:
        problems.append("no published counts to check against")
    return CheckRow(
        model=spec.name, params=params, macs=macs, params_ref=params_ref, macs_ref=macs_ref,
        params_exact=spec.exact_params is not None, ok=not problems, why="; ".join(problems),
        macs_convention=spec.macs_convention, macs_exact=spec.exact_macs is not None,
    )


def check_models(specs: list[ModelSpec]) -> list[CheckRow]:
    return [check_spec(s) for s in specs]
