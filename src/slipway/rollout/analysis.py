"""The rollout's judgement: from metric snapshots to promote, roll back or extend.

Pure functions over plain values, no I/O, so that every rule is tested against a table of
scenarios (tests/rollout/test_decision.py) and the controller only gathers numbers and acts.

Each check measures three metrics, each with one of three outcomes (``Outcome``), as Argo
Rollouts does: PASS, FAIL or INCONCLUSIVE.

- ``error_rate``: the canary's server errors against the baseline's over the same window,
  Fisher's exact test (slipway.rollout.statistics): FAIL when the canary errs more often at
  the configured confidence *and* by more than ``max_error_rate_increase`` (a significant
  but harmless difference does not roll back). With no baseline, a binomial test of the
  canary's rate against ``max_error_rate_increase``.
- ``latency``: the canary's p99 above ``max_p99_ms``, or above ``max_p99_ratio`` times the
  baseline's p99 over the same window, both floored at ``p99_ratio_floor_ms`` (a histogram
  cannot tell 0.4 ms from 0.9 ms apart): FAIL.
- ``scores``: the population stability index of the canary's prediction scores against the
  baseline's (the predictor's ``slipway_prediction_score`` histogram), less what sampling
  noise alone gives at these sample sizes (statistics.psi_sampling_noise), above
  ``max_score_psi``, with the shift significant at the confidence (a chi-square test of
  homogeneity: a small sample's PSI is noisy): FAIL. A model that exports no scores on
  either side passes it.

The baseline is the champion in the same window, or when the champion had too few requests
there (at 100% it has none) the champion's last judged window.

A metric is INCONCLUSIVE, never a pass and never a breach, when it cannot be judged: no data
(a Prometheus gap, NaN), fewer than ``min_requests`` canary requests (a breach needs a
minimum sample), too few scores. A metric named in ``dry_run`` is measured and recorded but
never acts.

The step's outcome: FAIL if any acting metric fails, else INCONCLUSIVE if any is, else PASS.
At the end of a window (``judge_window``) PASS promotes the step, FAIL rolls back, and
INCONCLUSIVE holds the step for another window (EXTEND) until ``max_extensions``
consecutive inconclusive windows, then rolls back with that reason. While a window runs,
``find_breach`` rolls back on FAIL only, its tests held to ``(1 - confidence) / looks``
(Bonferroni over the checks of one window); it never promotes early.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from slipway.rollout import statistics

METRICS = ("error_rate", "latency", "scores")


class Action(StrEnum):
    PROMOTE = "promote"
    ROLLBACK = "rollback"
    EXTEND = "extend"
    CONTINUE = "continue"  # mid-window: nothing wrong yet, keep watching


class Outcome(StrEnum):
    PASS = "pass"  # noqa: S105  (an outcome, not a password)
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True)
class Thresholds:
    min_requests: int
    max_error_rate_increase: float
    max_p99_ratio: float
    p99_ratio_floor_ms: float
    max_p99_ms: float
    max_extensions: int
    confidence: float = 0.95
    max_score_psi: float | None = 1.0  # RolloutSettings' default: the reason is there
    min_score_samples: int = 50
    dry_run: frozenset[str] = frozenset()
    # Checks per window: a mid-window test is one of this many looks at the same window, so
    # it is held to (1 - confidence) / looks (Bonferroni), or peeking would inflate the
    # rate of false breaches.
    looks: int = 1

    @classmethod
    def from_settings(cls, settings: Any) -> Thresholds:
        return cls(
            min_requests=settings.min_requests,
            max_error_rate_increase=settings.max_error_rate_increase,
            max_p99_ratio=settings.max_p99_ratio,
            p99_ratio_floor_ms=settings.p99_ratio_floor_ms,
            max_p99_ms=settings.max_p99_ms,
            max_extensions=settings.max_extensions,
            confidence=settings.confidence,
            max_score_psi=settings.max_score_psi,
            min_score_samples=settings.min_score_samples or settings.min_requests,
            dry_run=frozenset(settings.dry_run),
            looks=max(1, math.ceil(settings.window_seconds / settings.check_interval_seconds)),
        )


@dataclass(frozen=True)
class Stats:
    """One side (canary or champion) over one window. NaN where Prometheus had no data.
    ``scores``: prediction scores per histogram bucket (not cumulative); empty when none."""

    requests: float
    errors: float
    p99_ms: float
    scores: tuple[float, ...] = ()

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests > 0 else math.nan

    @property
    def score_count(self) -> float:
        return sum(self.scores)


@dataclass(frozen=True)
class Snapshot:
    canary: Stats
    champion: Stats


@dataclass(frozen=True)
class Measurement:
    """One metric at one check: its outcome, the test, the statistic and the samples."""

    metric: str
    outcome: Outcome
    reason: str
    test: str = ""
    statistic: float = math.nan
    p_value: float = math.nan
    canary_samples: float = math.nan
    baseline_samples: float = math.nan
    dry_run: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "outcome": self.outcome.value,
            "reason": self.reason,
            "test": self.test,
            "statistic": _finite(self.statistic),
            "p_value": _finite(self.p_value),
            "canary_samples": _finite(self.canary_samples),
            "baseline_samples": _finite(self.baseline_samples),
            "dry_run": self.dry_run,
        }


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str
    breaches: tuple[str, ...] = field(default=())
    baseline: Stats | None = None
    outcome: Outcome | None = None
    measurements: tuple[Measurement, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action.value,
            "reason": self.reason,
            "breaches": list(self.breaches),
            "outcome": self.outcome.value if self.outcome else None,
            "measurements": [m.to_dict() for m in self.measurements],
        }


def _finite(value: float) -> float | str | None:
    # JSON has no NaN; an infinite odds ratio (no champion errors) is kept as a word.
    if math.isnan(value):
        return None
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return round(value, 6)


def baseline_of(snapshot: Snapshot, previous: Stats | None, t: Thresholds) -> Stats | None:
    """The champion's figures to compare against: this window's when it had enough
    requests, else the last judged ones."""
    if snapshot.champion.requests >= t.min_requests:
        return snapshot.champion
    return previous


def _sample_gap(canary: Stats, t: Thresholds) -> str | None:
    """Why the canary's window cannot be judged at all, or None."""
    if math.isnan(canary.requests):
        return "no canary request data (a Prometheus gap)"
    if canary.requests < t.min_requests:
        return f"{canary.requests:.0f} canary requests, {t.min_requests} needed"
    return None


def _error_rate(canary: Stats, baseline: Stats | None, t: Thresholds) -> Measurement:
    name, alpha = "error_rate", 1.0 - t.confidence
    gap = _sample_gap(canary, t)
    if gap is None and math.isnan(canary.errors):
        gap = "no canary error data (a Prometheus gap)"
    if gap is not None:
        return Measurement(name, Outcome.INCONCLUSIVE, gap, canary_samples=canary.requests)
    n, k = round(canary.requests), min(round(canary.errors), round(canary.requests))
    rate = k / n
    usable = (
        baseline is not None
        and not math.isnan(baseline.errors)
        and baseline.requests >= t.min_requests
    )
    if baseline is not None and usable:
        bn = round(baseline.requests)
        bk = min(round(baseline.errors), bn)
        base_rate = bk / bn
        result = statistics.error_rate_test(k, n, bk, bn)
        worse = result.p_value < alpha and rate - base_rate > t.max_error_rate_increase
        reason = (
            f"canary error rate {rate:.2%} against the baseline's {base_rate:.2%} "
            f"(Fisher p={result.p_value:.3g}, limit +{t.max_error_rate_increase:.2%} at "
            f"{t.confidence:.0%})"
        )
        if worse:
            reason = (
                f"canary error rate {rate:.2%} exceeds the baseline's {base_rate:.2%} by more "
                f"than {t.max_error_rate_increase:.2%} (Fisher p={result.p_value:.3g} < "
                f"{alpha:.3g})"
            )
        return Measurement(
            name, Outcome.FAIL if worse else Outcome.PASS, reason, result.test,
            result.statistic, result.p_value, n, bn,
        )  # fmt: skip
    result = statistics.error_rate_vs_bound(k, n, t.max_error_rate_increase)
    worse = result.p_value < alpha and rate > t.max_error_rate_increase
    verb = "exceeds" if worse else "is within"
    reason = (
        f"canary error rate {rate:.2%} {verb} the bound {t.max_error_rate_increase:.2%} with no "
        f"baseline (binomial p={result.p_value:.3g})"
    )
    return Measurement(
        name, Outcome.FAIL if worse else Outcome.PASS, reason, result.test, result.statistic,
        result.p_value, n,
    )  # fmt: skip


def _latency(canary: Stats, baseline: Stats | None, t: Thresholds) -> Measurement:
    name = "latency"
    gap = _sample_gap(canary, t)
    if gap is None and math.isnan(canary.p99_ms):
        gap = "no canary latency data (a Prometheus gap)"
    if gap is not None:
        return Measurement(name, Outcome.INCONCLUSIVE, gap, canary_samples=canary.requests)
    found = []
    if canary.p99_ms > t.max_p99_ms:
        found.append(f"canary p99 {canary.p99_ms:.1f} ms is above the bound {t.max_p99_ms:g} ms")
    ratio, base_n = math.nan, math.nan
    if baseline is not None and not math.isnan(baseline.p99_ms):
        floor = t.p99_ratio_floor_ms
        ratio = max(canary.p99_ms, floor) / max(baseline.p99_ms, floor, 1e-9)
        base_n = baseline.requests
        if ratio > t.max_p99_ratio:
            found.append(
                f"canary p99 {canary.p99_ms:.1f} ms is {ratio:.2f}x the baseline's "
                f"{baseline.p99_ms:.1f} ms (limit {t.max_p99_ratio:g}x)"
            )
    reason = "; ".join(found) or f"canary p99 {canary.p99_ms:.1f} ms within bounds"
    return Measurement(
        name, Outcome.FAIL if found else Outcome.PASS, reason, "p99_ratio", ratio,
        canary_samples=canary.requests, baseline_samples=base_n,
    )  # fmt: skip


def _scores(canary: Stats, baseline: Stats | None, t: Thresholds) -> Measurement | None:
    if t.max_score_psi is None:
        return None
    name = "scores"
    base_scores = baseline.scores if baseline is not None else ()
    gap = _sample_gap(canary, t)
    if gap is not None:
        return Measurement(name, Outcome.INCONCLUSIVE, gap, canary_samples=canary.score_count)
    if canary.score_count <= 0 and sum(base_scores) <= 0:
        return Measurement(name, Outcome.PASS, "no prediction scores exported on either side")
    n, bn = canary.score_count, sum(base_scores)
    if n < t.min_score_samples or bn < t.min_score_samples:
        return Measurement(
            name, Outcome.INCONCLUSIVE,
            f"{n:.0f} canary and {bn:.0f} baseline scores, {t.min_score_samples} needed each",
            canary_samples=n, baseline_samples=bn,
        )  # fmt: skip
    try:
        raw = statistics.psi(base_scores, canary.scores)
        shift = statistics.score_shift_test(base_scores, canary.scores)
    except ValueError as exc:
        return Measurement(name, Outcome.INCONCLUSIVE, f"score histograms: {exc}")
    # The PSI judged is the excess over what sampling alone gives at these sample sizes
    # (small canary samples inflate the raw PSI of an honest canary), and the shift must
    # also be real: significant at the confidence.
    noise = statistics.psi_sampling_noise(base_scores, canary.scores)
    index = max(raw - noise, 0.0)
    worse = index > t.max_score_psi and shift.p_value < 1.0 - t.confidence
    above = index > t.max_score_psi
    weak = ": not a significant shift" if above and not worse else ""
    reason = (
        f"canary score distribution PSI {index:.3f} against the baseline's "
        f"({'above' if above else 'within'} {t.max_score_psi:g}; raw {raw:.3f} less "
        f"{noise:.3f} of sampling noise; chi-square p={shift.p_value:.3g}{weak})"
    )
    return Measurement(
        name, Outcome.FAIL if worse else Outcome.PASS, reason, "psi+chi_square", index,
        shift.p_value, canary_samples=n, baseline_samples=bn,
    )  # fmt: skip


def measure(snapshot: Snapshot, baseline: Stats | None, t: Thresholds) -> tuple[Measurement, ...]:
    """Every metric at one check, each marked dry run where configured."""
    found = [
        _error_rate(snapshot.canary, baseline, t),
        _latency(snapshot.canary, baseline, t),
        _scores(snapshot.canary, baseline, t),
    ]
    return tuple(
        Measurement(**{**vars(m), "dry_run": m.metric in t.dry_run}) for m in found if m is not None
    )


def verdict(measurements: Iterable[Measurement]) -> Outcome:
    acting = [m.outcome for m in measurements if not m.dry_run]
    if Outcome.FAIL in acting:
        return Outcome.FAIL
    if Outcome.INCONCLUSIVE in acting:
        return Outcome.INCONCLUSIVE
    return Outcome.PASS


def _named(measurements: Iterable[Measurement], outcome: Outcome) -> list[Measurement]:
    return [m for m in measurements if m.outcome is outcome and not m.dry_run]


def _fail(baseline: Stats | None, found: tuple[Measurement, ...]) -> Decision:
    failed = _named(found, Outcome.FAIL)
    reasons = tuple(part for m in failed for part in m.reason.split("; "))
    return Decision(Action.ROLLBACK, "; ".join(reasons), reasons, baseline, Outcome.FAIL, found)


def find_breach(snapshot: Snapshot, previous: Stats | None, t: Thresholds) -> Decision:
    """Mid-window: ROLLBACK on a failed metric (over enough requests), else CONTINUE."""
    baseline = baseline_of(snapshot, previous, t)
    strict = 1.0 - (1.0 - t.confidence) / t.looks
    found = measure(snapshot, baseline, dataclasses.replace(t, confidence=strict))
    outcome = verdict(found)
    if outcome is Outcome.FAIL:
        return _fail(baseline, found)
    note = "no breach so far" if outcome is Outcome.PASS else "waiting for a conclusive sample"
    return Decision(Action.CONTINUE, note, baseline=baseline, outcome=outcome, measurements=found)


def judge_window(
    snapshot: Snapshot, previous: Stats | None, extensions: int, t: Thresholds
) -> Decision:
    """End of a window: PROMOTE (step passed), ROLLBACK or EXTEND (inconclusive: held).
    ``extensions``: the consecutive inconclusive windows of this step so far."""
    baseline = baseline_of(snapshot, previous, t)
    found = measure(snapshot, baseline, t)
    outcome = verdict(found)
    if outcome is Outcome.FAIL:
        return _fail(baseline, found)
    if outcome is Outcome.INCONCLUSIVE:
        why = "; ".join(f"{m.metric}: {m.reason}" for m in _named(found, Outcome.INCONCLUSIVE))
        if extensions < t.max_extensions:
            return Decision(
                Action.EXTEND,
                f"inconclusive ({why}): window extended ({extensions + 1} of "
                f"{t.max_extensions})",
                baseline=baseline, outcome=outcome, measurements=found,
            )  # fmt: skip
        return Decision(
            Action.ROLLBACK,
            f"inconclusive after {extensions} extensions ({why}): cannot judge the canary",
            ("inconclusive",), baseline, outcome, found,
        )  # fmt: skip
    canary = snapshot.canary
    return Decision(
        Action.PROMOTE,
        f"{canary.requests:.0f} canary requests, error rate {canary.error_rate:.2%}, p99 "
        f"{canary.p99_ms:.1f} ms: within thresholds",
        baseline=baseline, outcome=outcome, measurements=found,
    )  # fmt: skip
