"""The record of one rollout as it runs: its steps, their figures and the decision."""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from slipway.rollout.analysis import Stats

PROMOTED, ROLLED_BACK, ABORTED, RUNNING = "promoted", "rolled_back", "aborted", "running"
# The new version serves, but the alias or the git stage is still to do (``rollout recover``).
PROMOTION_PENDING = "promotion_pending"


@dataclass
class StepRecord:
    percent: int
    started_at: float
    decision: str = ""
    reason: str = ""
    extensions: int = 0
    canary: dict[str, float | None] = field(default_factory=dict)
    champion: dict[str, float | None] = field(default_factory=dict)
    finished_at: float | None = None
    # The step's outcome at its last judgement (pass, fail, inconclusive) and that
    # judgement's measurements: metric, outcome, test, statistic, p-value, samples, dry run.
    outcome: str = ""
    measurements: list[dict[str, Any]] = field(default_factory=list)
    # Every check of the step, mid-window and end of window, kept (as Argo Rollouts keeps
    # its measurements): {"at", "kind", "outcome", "measurements"}.
    checks: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class RolloutOutcome:
    model: str
    version: str
    champion_before: str
    decision: str = RUNNING
    reason: str = ""
    champion_after: str = ""
    started_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    breach_detected_at: float | None = None
    rollback_done_at: float | None = None
    steps: list[StepRecord] = field(default_factory=list)
    gitops: dict[str, str] | None = None
    pid: int = field(default_factory=os.getpid)

    def summary(self) -> dict[str, Any]:
        return asdict(self)


def stats_dict(stats: Stats) -> dict[str, float | None]:
    # NaN (no data) becomes null: JSON has no NaN.
    return {
        k: (None if math.isnan(v) else round(v, 3))
        for k, v in (
            ("requests", stats.requests),
            ("errors", stats.errors),
            ("p99_ms", stats.p99_ms),
        )
    }
