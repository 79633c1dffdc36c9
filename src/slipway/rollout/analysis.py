"""The rollout's judgement: from metric snapshots to promote, roll back or extend.

Pure functions over plain values, no I/O, so that every rule is tested against a table of
scenarios (tests/rollout/test_decision.py) and the controller only gathers numbers and acts.

Rules, in order, for a canary window (``judge_window``):
1. Too few canary requests to judge: EXTEND the window, or ROLLBACK once the step has been
   extended ``max_extensions`` times (a canary that gets no traffic cannot be trusted).
2. The canary's p99 above the absolute bound: ROLLBACK.
3. The canary's error rate above the baseline's by more than the allowed increase: ROLLBACK.
   The baseline is the champion in the same window, or when the champion had too few
   requests there (at 100% it has none) the champion's last judged window; with no baseline
   at all the canary's own error rate is held to the allowed increase.
4. The canary's p99 above ``max_p99_ratio`` times the baseline's p99, both floored at
   ``p99_ratio_floor_ms`` (a histogram cannot tell 0.4 ms from 0.9 ms apart, and doubling
   a sub-millisecond latency harms nobody): ROLLBACK.
5. Otherwise PROMOTE: the step passed (the controller moves to the next step, or, after
   the last one, promotes the version).

While a window is still running, ``find_breach`` applies rules 2-4 only, so that a breach rolls
back at once instead of at the end of the window; it never promotes early.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class Action(StrEnum):
    PROMOTE = "promote"
    ROLLBACK = "rollback"
    EXTEND = "extend"
    CONTINUE = "continue"  # mid-window: nothing wrong yet, keep watching


@dataclass(frozen=True)
class Thresholds:
    min_requests: int
    max_error_rate_increase: float
    max_p99_ratio: float
    p99_ratio_floor_ms: float
    max_p99_ms: float
    max_extensions: int

    @classmethod
    def from_settings(cls, settings: Any) -> Thresholds:
        return cls(
            min_requests=settings.min_requests,
            max_error_rate_increase=settings.max_error_rate_increase,
            max_p99_ratio=settings.max_p99_ratio,
            p99_ratio_floor_ms=settings.p99_ratio_floor_ms,
            max_p99_ms=settings.max_p99_ms,
            max_extensions=settings.max_extensions,
        )


@dataclass(frozen=True)
class Stats:
    """One side (canary or champion) over one window. NaN where Prometheus had no data."""

    requests: float
    errors: float
    p99_ms: float

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests > 0 else math.nan


@dataclass(frozen=True)
class Snapshot:
    canary: Stats
    champion: Stats


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str
    breaches: tuple[str, ...] = field(default=())
    baseline: Stats | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["action"] = self.action.value
        return out


def baseline_of(snapshot: Snapshot, previous: Stats | None, t: Thresholds) -> Stats | None:
    """The champion's figures to compare against: this window's when it had enough
    requests, else the last judged ones."""
    if snapshot.champion.requests >= t.min_requests:
        return snapshot.champion
    return previous


def _breaches(canary: Stats, baseline: Stats | None, t: Thresholds) -> list[str]:
    found = []
    if not math.isnan(canary.p99_ms) and canary.p99_ms > t.max_p99_ms:
        found.append(f"canary p99 {canary.p99_ms:.1f} ms is above the bound {t.max_p99_ms:g} ms")
    base_rate = baseline.error_rate if baseline is not None else 0.0
    if math.isnan(base_rate):
        base_rate = 0.0
    rate = canary.error_rate
    if not math.isnan(rate) and rate - base_rate > t.max_error_rate_increase:
        found.append(
            f"canary error rate {rate:.2%} exceeds the baseline's {base_rate:.2%} by more "
            f"than {t.max_error_rate_increase:.2%}"
        )
    if baseline is not None and not math.isnan(canary.p99_ms) and not math.isnan(baseline.p99_ms):
        floor = t.p99_ratio_floor_ms
        ratio = max(canary.p99_ms, floor) / max(baseline.p99_ms, floor, 1e-9)
        if ratio > t.max_p99_ratio:
            found.append(
                f"canary p99 {canary.p99_ms:.1f} ms is {ratio:.2f}x the baseline's "
                f"{baseline.p99_ms:.1f} ms (limit {t.max_p99_ratio:g}x)"
            )
    return found


def find_breach(snapshot: Snapshot, previous: Stats | None, t: Thresholds) -> Decision:
    """Mid-window: ROLLBACK on a breach seen over enough requests, else CONTINUE."""
    baseline = baseline_of(snapshot, previous, t)
    if snapshot.canary.requests < t.min_requests:
        return Decision(Action.CONTINUE, "waiting for canary requests", baseline=baseline)
    found = _breaches(snapshot.canary, baseline, t)
    if found:
        return Decision(Action.ROLLBACK, "; ".join(found), tuple(found), baseline)
    return Decision(Action.CONTINUE, "no breach so far", baseline=baseline)


def judge_window(
    snapshot: Snapshot, previous: Stats | None, extensions: int, t: Thresholds
) -> Decision:
    """End of a window: PROMOTE (step passed), ROLLBACK or EXTEND."""
    baseline = baseline_of(snapshot, previous, t)
    canary = snapshot.canary
    if not canary.requests >= t.min_requests:  # also catches NaN
        seen = 0 if math.isnan(canary.requests) else canary.requests
        if extensions < t.max_extensions:
            return Decision(
                Action.EXTEND,
                f"{seen:.0f} canary requests, {t.min_requests} needed: window extended "
                f"({extensions + 1} of {t.max_extensions})",
                baseline=baseline,
            )
        return Decision(
            Action.ROLLBACK,
            f"only {seen:.0f} canary requests after {extensions} extensions "
            f"({t.min_requests} needed): cannot judge the canary",
            ("insufficient traffic",),
            baseline,
        )
    found = _breaches(canary, baseline, t)
    if found:
        return Decision(Action.ROLLBACK, "; ".join(found), tuple(found), baseline)
    rate = canary.error_rate
    return Decision(
        Action.PROMOTE,
        f"{canary.requests:.0f} canary requests, error rate {rate:.2%}, p99 "
        f"{canary.p99_ms:.1f} ms: within thresholds",
        baseline=baseline,
    )
