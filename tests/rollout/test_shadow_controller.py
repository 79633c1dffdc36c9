"""The controller's shadow phase as the loop only, through fake ports (no servers, no clock;
the fakes of tests/rollout/test_controller.py, with a router and a metric source that have a
shadow mode): the phase comes first, mirroring is stopped whatever its end, a fail or an
inconclusive limit rolls back before any canary step, a pass goes on to the steps."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_controller import CANARY, CHAMPION, GOOD, SETTINGS, Abort, Champion, Clock, Log
from test_controller import Metrics as StepMetrics
from test_controller import Router as StepRouter

from slipway.config.rollout import ShadowSettings
from slipway.errors import RolloutError
from slipway.rollout.controller import RolloutController
from slipway.rollout.outcome import RolloutOutcome
from slipway.rollout.shadow_analysis import ShadowStats

SHADOW = ShadowSettings(percent=20, duration_seconds=2, min_requests=50, max_extensions=1)
SHADOWED = SETTINGS.model_copy(update={"shadow": SHADOW})
AGREE, DISAGREE = ShadowStats(100, 0), ShadowStats(40, 60)
NONE = ShadowStats(math.nan, math.nan)


class Router(StepRouter):
    def start_shadow(self, canary: Any, champion: Any, settings: ShadowSettings) -> None:
        self.calls.append(("shadow", settings.percent))

    def stop_shadow(self) -> None:
        self.calls.append(("unshadow", None))


class Metrics(StepMetrics):
    def __init__(self, shadow: list[ShadowStats]) -> None:
        super().__init__([GOOD])
        self.shadow = shadow
        self.shadow_calls = 0

    def shadow_stats(self, model: str, version: str, seconds: float) -> ShadowStats:
        stats = self.shadow[min(self.shadow_calls, len(self.shadow) - 1)]
        self.shadow_calls += 1
        return stats


def _run(
    shadow: list[ShadowStats], router: Any = None, metrics: Any = None, abort: Any = None
) -> tuple[RolloutOutcome, Any, Log]:
    router, clock, log = router or Router(), Clock(), Log()
    controller = RolloutController(
        SHADOWED, router, metrics or Metrics(shadow), abort or Abort(), Champion(),
        recorders=[log], clock=clock, sleep=clock.sleep,
    )  # fmt: skip
    return controller.run(CANARY, CHAMPION), router, log


def test_agreement_goes_on_to_the_canary_steps() -> None:
    outcome, router, log = _run([AGREE])
    assert outcome.decision == "promoted", outcome.reason
    names = [c[0] for c in router.calls]
    assert names[:3] == ["shadow", "unshadow", "deploy"]
    assert [s.percent for s in outcome.steps] == [0, 10, 50, 100]
    assert outcome.steps[0].outcome == "pass"
    assert log.points[1:5] == ["passed 1", "passed 2", "passed 3", "passed 4"]


def test_disagreement_rolls_back_before_any_step() -> None:
    outcome, router, _ = _run([DISAGREE])
    assert outcome.decision == "rolled_back"
    assert outcome.reason.startswith("shadow agreement 40.00% is below"), outcome.reason
    assert [c[0] for c in router.calls] == ["shadow", "unshadow", "rollback"]
    (shadow,) = outcome.steps
    assert shadow.percent == 0 and shadow.canary["disagree"] == 60
    assert outcome.breach_detected_at is not None


def test_no_shadow_data_is_inconclusive_then_rolled_back() -> None:
    outcome, router, _ = _run([NONE])
    assert outcome.decision == "rolled_back"
    assert "shadow inconclusive after 1 extensions" in outcome.reason, outcome.reason
    assert "deploy" not in [c[0] for c in router.calls]
    judged = [c["outcome"] for c in outcome.steps[0].checks if c["kind"] == "shadow judgement"]
    assert judged == ["inconclusive", "inconclusive"]


def test_an_abort_in_shadow_stops_mirroring_and_rolls_back() -> None:
    outcome, router, _ = _run([AGREE], abort=Abort(after=0))
    assert outcome.decision == "aborted"
    assert [c[0] for c in router.calls] == ["shadow", "unshadow", "rollback"]


def test_a_backend_without_shadow_mode_is_refused_by_name() -> None:
    with pytest.raises(RolloutError, match=r"rollout\.shadow\.percent"):
        _run([AGREE], router=StepRouter())
