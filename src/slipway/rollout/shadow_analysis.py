"""The shadow phase's judgement: from the mirrored answers' agreement to on, roll back or
extend. Pure, as slipway.rollout.analysis (whose outcomes, measurements and decisions it
uses), and tested in the same scenario table (tests/rollout/test_decision.py).

- ``agreement``: the share of mirrored answers that agree with the champion's (an error of
  the shadow counts as not agreeing; a dropped copy is not an answer). FAIL when the
  disagreement is above ``1 - min_agreement`` at the confidence, a one-sided binomial test;
  INCONCLUSIVE below ``min_requests`` compared answers or without data.

At the end of a window PASS goes on to the canary steps, FAIL rolls back (the challenger
never served a live request), INCONCLUSIVE extends the window up to ``max_extensions``
times, then rolls back. Mid-window only FAIL acts, its test held to ``alpha / looks``.
With ``dry_run`` the agreement is measured and recorded but never acts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from slipway.rollout import statistics
from slipway.rollout.analysis import Action, Decision, Measurement, Outcome, verdict


@dataclass(frozen=True)
class ShadowStats:
    """The mirrored requests of one shadow window, by outcome (NaN: no data)."""

    agree: float
    disagree: float
    error: float = 0.0
    dropped: float = 0.0

    @property
    def compared(self) -> float:
        # An error (the shadow failed or timed out) is an answer that did not agree.
        return self.agree + self.disagree + self.error

    @property
    def agreement(self) -> float:
        return self.agree / self.compared if self.compared > 0 else math.nan


@dataclass(frozen=True)
class ShadowThresholds:
    min_requests: int
    min_agreement: float
    max_extensions: int
    confidence: float = 0.95
    dry_run: bool = False
    looks: int = 1

    @classmethod
    def from_settings(cls, settings: Any) -> ShadowThresholds:
        shadow = settings.shadow
        return cls(
            min_requests=shadow.min_requests,
            min_agreement=shadow.min_agreement,
            max_extensions=shadow.max_extensions,
            confidence=settings.confidence,
            dry_run=shadow.dry_run,
            looks=max(1, math.ceil(shadow.duration_seconds / settings.check_interval_seconds)),
        )


def measure_agreement(stats: ShadowStats, t: ShadowThresholds, alpha: float) -> Measurement:
    """The agreement rate against ``min_agreement``: FAIL when the disagreement is above
    ``1 - min_agreement`` at ``alpha`` (one-sided binomial test: a few unlucky answers in a
    small sample are not a breach); INCONCLUSIVE below ``min_requests`` compared answers."""
    name, dry = "agreement", t.dry_run
    values = (stats.agree, stats.disagree, stats.error)
    if any(math.isnan(v) for v in values):
        return Measurement(
            name, Outcome.INCONCLUSIVE, "no shadow data (a Prometheus gap)", dry_run=dry
        )
    n = round(stats.compared)
    if n < t.min_requests:
        return Measurement(
            name, Outcome.INCONCLUSIVE,
            f"{n} mirrored answers compared, {t.min_requests} needed "
            f"({stats.dropped:.0f} copies dropped)",
            canary_samples=n, dry_run=dry,
        )  # fmt: skip
    bound = 1.0 - t.min_agreement
    differ = min(round(stats.disagree + stats.error), n)
    result = statistics.error_rate_vs_bound(differ, n, bound)
    worse = result.p_value < alpha and differ / n > bound
    rate = stats.agree / n
    verb = "is below" if worse else "meets"
    reason = (
        f"shadow agreement {rate:.2%} {verb} the minimum {t.min_agreement:.0%} over {n} "
        f"mirrored answers ({stats.disagree:.0f} disagree, {stats.error:.0f} errors, "
        f"{stats.dropped:.0f} dropped; binomial p={result.p_value:.3g})"
    )
    return Measurement(
        name, Outcome.FAIL if worse else Outcome.PASS, reason, result.test, rate,
        result.p_value, canary_samples=n, dry_run=dry,
    )  # fmt: skip


def shadow_breach(stats: ShadowStats, t: ShadowThresholds) -> Decision:
    """Mid-window in the shadow phase: ROLLBACK on a failed agreement (held to
    ``(1 - confidence) / looks``, as ``find_breach``), else CONTINUE."""
    found = (measure_agreement(stats, t, (1.0 - t.confidence) / t.looks),)
    outcome = verdict(found)
    if outcome is Outcome.FAIL:
        return Decision(Action.ROLLBACK, found[0].reason, ("agreement",), None, outcome, found)
    note = "no breach so far" if outcome is Outcome.PASS else "waiting for a conclusive sample"
    return Decision(Action.CONTINUE, note, outcome=outcome, measurements=found)


def judge_shadow(stats: ShadowStats, extensions: int, t: ShadowThresholds) -> Decision:
    """End of a shadow window: PROMOTE (on to the canary steps), ROLLBACK (the challenger
    never served a live request) or EXTEND, with the three outcomes of the steps."""
    found = (measure_agreement(stats, t, 1.0 - t.confidence),)
    m = found[0]
    outcome = verdict(found)
    if outcome is Outcome.FAIL:
        return Decision(Action.ROLLBACK, m.reason, ("agreement",), None, outcome, found)
    if outcome is Outcome.INCONCLUSIVE:
        if extensions < t.max_extensions:
            return Decision(
                Action.EXTEND,
                f"shadow inconclusive ({m.reason}): window extended ({extensions + 1} of "
                f"{t.max_extensions})",
                outcome=outcome, measurements=found,
            )  # fmt: skip
        return Decision(
            Action.ROLLBACK,
            f"shadow inconclusive after {extensions} extensions ({m.reason}): cannot judge "
            "the challenger",
            ("inconclusive",), None, outcome, found,
        )  # fmt: skip
    note = m.reason if not m.dry_run else f"{m.reason} (dry run: not acted on)"
    return Decision(Action.PROMOTE, note, outcome=outcome, measurements=found)
