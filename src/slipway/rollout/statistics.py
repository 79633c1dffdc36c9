"""The statistical tests behind the canary analysis: pure functions over counts.

- ``error_rate_test``: is the canary's error rate higher than the champion's, given how many
  requests each side saw? Fisher's exact test (one-sided), exact at any sample size, so a
  window of 60 requests and one of 60 000 are judged by the same rule.
- ``error_rate_vs_bound``: with no champion to compare with, is the canary's error rate above
  a bound? A one-sided binomial test.
- ``score_shift_test``: could two score histograms come from one distribution? A chi-square
  test of homogeneity over the buckets, so that a small sample's noise is not a shift.
- ``psi``: the population stability index between two histograms over the same buckets
  (the predictor's ``slipway_prediction_score`` buckets), with a small floor per bucket so
  that an empty bucket on one side gives a large, finite index rather than infinity.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats as scipy_stats

#: A bucket's share never below this in the PSI: log(0) would make one empty bucket decide.
PSI_FLOOR = 1e-4


@dataclass(frozen=True)
class TestResult:
    test: str
    statistic: float
    p_value: float


def error_rate_test(
    canary_errors: int, canary_requests: int, champion_errors: int, champion_requests: int
) -> TestResult:
    """One-sided Fisher's exact test of "the canary errs more often than the champion".
    The statistic is the odds ratio (inf when the champion had no errors and the canary had)."""
    table = [
        [canary_errors, canary_requests - canary_errors],
        [champion_errors, champion_requests - champion_errors],
    ]
    result = scipy_stats.fisher_exact(table, alternative="greater")
    return TestResult("fisher_exact", float(result.statistic), float(result.pvalue))


def error_rate_vs_bound(errors: int, requests: int, bound: float) -> TestResult:
    """One-sided binomial test of "the canary's error rate is above ``bound``"."""
    p = min(max(bound, 1e-9), 1.0)
    result = scipy_stats.binomtest(errors, requests, p, alternative="greater")
    return TestResult("binomial", float(result.statistic), float(result.pvalue))


def psi(expected: Sequence[float], actual: Sequence[float]) -> float:
    """Population stability index of ``actual`` against ``expected`` (counts per bucket,
    the same buckets on both sides). 0 for equal shapes; over 0.25 is a large shift."""
    if len(expected) != len(actual):
        raise ValueError(
            f"histograms have {len(expected)} and {len(actual)} buckets: not comparable"
        )
    total_e, total_a = sum(expected), sum(actual)
    if total_e <= 0 or total_a <= 0:
        raise ValueError("a histogram with no observations has no distribution")
    index = 0.0
    for e, a in zip(expected, actual, strict=True):
        pe, pa = max(e / total_e, PSI_FLOOR), max(a / total_a, PSI_FLOOR)
        index += (pa - pe) * math.log(pa / pe)
    return index


def psi_sampling_noise(expected: Sequence[float], actual: Sequence[float]) -> float:
    """The PSI two samples of ONE distribution show on average, from sampling alone:
    about ``(k - 1) * (1/n + 1/m)`` over ``k`` occupied buckets (the PSI is a symmetrised
    KL divergence, whose estimate is chi-square-like under no shift). Over 44 and 390
    scores in 10 buckets that is 0.23: the raw PSI of an honest canary at a 10% step is
    near a "large shift" threshold by noise alone, so the gate judges the excess over it."""
    occupied = sum(1 for e, a in zip(expected, actual, strict=True) if e > 0 or a > 0)
    n, m = sum(actual), sum(expected)
    if occupied < 2 or n <= 0 or m <= 0:
        return 0.0
    return (occupied - 1) * (1.0 / n + 1.0 / m)


def score_shift_test(expected: Sequence[float], actual: Sequence[float]) -> TestResult:
    """Chi-square test of homogeneity of two histograms over the same buckets: could both
    be samples of one distribution? Accounts for sample size, which the PSI does not (over
    a few dozen scores the PSI of two samples of the same distribution is often above 0.25).
    Adjacent buckets are pooled until each expected count is at least 5; with one bucket
    left the test cannot tell the shapes apart (p = 1)."""
    if len(expected) != len(actual):
        raise ValueError(
            f"histograms have {len(expected)} and {len(actual)} buckets: not comparable"
        )
    kept = _pooled(list(zip(expected, actual, strict=True)))
    if len(kept) < 2:
        return TestResult("chi_square", 0.0, 1.0)
    table = [[e for e, _ in kept], [a for _, a in kept]]
    result = scipy_stats.chi2_contingency(table, correction=False)
    return TestResult("chi_square", float(result.statistic), float(result.pvalue))


def _pooled(columns: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Adjacent buckets pooled until every expected count is at least 5 (Cochran's rule:
    below it the chi-square approximation overstates the evidence)."""
    total_e = sum(e for e, _ in columns)
    total_a = sum(a for _, a in columns)
    total = total_e + total_a
    if total_e <= 0 or total_a <= 0:
        return []
    # A column's smallest expected count is its total times the smaller side's share.
    need = 5.0 * total / min(total_e, total_a)
    pooled: list[tuple[float, float]] = []
    e_run = a_run = 0.0
    for e, a in columns:
        e_run, a_run = e_run + e, a_run + a
        if e_run + a_run >= need:
            pooled.append((e_run, a_run))
            e_run = a_run = 0.0
    if e_run + a_run > 0:
        if pooled:  # the short tail joins the last full column
            last_e, last_a = pooled.pop()
            pooled.append((last_e + e_run, last_a + a_run))
        else:
            pooled.append((e_run, a_run))
    return pooled


def bucket_counts(cumulative: Sequence[float]) -> tuple[float, ...]:
    """Per-bucket counts from Prometheus' cumulative ``le`` counts (in ``le`` order).
    A dip (counters reset unevenly across buckets) is clamped to zero."""
    out, last = [], 0.0
    for value in cumulative:
        out.append(max(value - last, 0.0))
        last = max(value, last)
    return tuple(out)
