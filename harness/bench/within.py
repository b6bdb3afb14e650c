"""Tests within one session: are one run's samples of a cell larger than another's?

With thousands of samples a 0.5% shift is "significant" within a session, yet separate sessions
differ by more than that (harness.bench.sessions). These tests are therefore shown beside a
comparison's verdict as "within-session" figures and never decide it alone: `harness compare`
decides on the trials.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

@dataclass(frozen=True)
class MannWhitney:
    u: float  # U of the first sample: pairs (x_i, y_j) with x_i > y_j, ties counted as 1/2
    p_value: float  # two-sided


# scipy's "auto" method is exact up to this many samples on a side, when there are no ties.
EXACT_MAX_SAMPLES = 8


def mann_whitney_u(x, y) -> MannWhitney:
    """Two-sided Mann-Whitney U test, as `scipy.stats.mannwhitneyu(x, y, method="auto")`: exact
    (scipy's own) for small samples without ties, the normal approximation with tie and
    continuity correction otherwise. That second branch is computed here, the same formula as
    scipy's "asymptotic" method (tests hold the two equal), because importing scipy.stats costs
    half a second, more than the comparison of a hundred cells. Every value equal on both sides
    is no evidence either way: p = 1."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.size == 0 or y.size == 0:
        raise ValueError("The Mann-Whitney U test needs samples on both sides.")
    values, inverse, counts = np.unique(np.concatenate([x, y]), return_inverse=True,
                                        return_counts=True)
    ties = bool((counts > 1).any())
    if max(x.size, y.size) <= EXACT_MAX_SAMPLES and not ties:
        from scipy.stats import mannwhitneyu  # the exact distribution: only scipy has it here

        result = mannwhitneyu(x, y, alternative="two-sided", method="exact")
        return MannWhitney(float(result.statistic), float(result.pvalue))
    # Midranks: the average rank of each distinct value, 1-based.
    ends = np.cumsum(counts)
    midranks = ends - (counts - 1) / 2.0
    ranks = midranks[inverse]
    n1, n2 = x.size, y.size
    u1 = float(ranks[:n1].sum() - n1 * (n1 + 1) / 2.0)
    n = n1 + n2
    tie_term = float((counts.astype(np.float64) ** 3 - counts).sum())
    variance = n1 * n2 / 12.0 * ((n + 1) - tie_term / (n * (n - 1)))
    if variance <= 0:
        return MannWhitney(u1, 1.0)
    mean = n1 * n2 / 2.0
    z = (abs(u1 - mean) - 0.5) / math.sqrt(variance)  # continuity-corrected, two-sided
    p = math.erfc(max(z, 0.0) / math.sqrt(2.0))
    return MannWhitney(u1, min(1.0, p))


def smallest_p(n: int, m: int) -> float:
    """The smallest two-sided p the Mann-Whitney test can give for n and m samples: both
    entirely apart, 2 / C(n + m, n). (In logs for long runs, where it is far below any alpha.)"""
    if n + m <= 1000:
        return min(1.0, 2 / math.comb(n + m, n))
    return 2.0 * math.exp(math.lgamma(n + 1) + math.lgamma(m + 1) - math.lgamma(n + m + 1))
