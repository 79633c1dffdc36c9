"""The evaluation gate against a table of scenarios (pure logic, no server)."""

from __future__ import annotations

import numpy as np
import pytest

from slipway.config import GateSettings
from slipway.errors import TrackingError
from slipway.training.evaluation import Metrics, apply_gate, decision_from_tags, score

GOOD = Metrics(accuracy=0.80, roc_auc=0.85, f1=0.75, log_loss=0.45)
GATE = GateSettings(
    min_accuracy=0.7, min_roc_auc=0.75, min_f1=0.5, max_log_loss=0.6, champion_margin=0.01
)


@pytest.mark.parametrize(
    ("challenger", "champion", "passes", "reason"),
    [
        (GOOD, None, True, None),
        (Metrics(0.65, 0.85, 0.75, 0.45), None, False, "accuracy 0.6500 below minimum 0.7"),
        (Metrics(0.80, 0.70, 0.75, 0.45), None, False, "roc_auc"),
        (Metrics(0.80, 0.85, 0.40, 0.45), None, False, "f1"),
        (Metrics(0.80, 0.85, 0.75, 0.70), None, False, "log_loss 0.7000 above maximum"),
        (Metrics(0.80, float("nan"), 0.75, 0.45), None, False, "roc_auc"),
        (GOOD, GOOD, True, None),
        (GOOD, Metrics(0.805, 0.855, 0.755, 0.445), True, None),  # within the margin
        (GOOD, Metrics(0.80, 0.87, 0.75, 0.45), False, "roc_auc 0.8500 worse than champion"),
        (GOOD, Metrics(0.80, 0.85, 0.75, 0.43), False, "log_loss 0.4500 worse than champion"),
        (Metrics(0.90, 0.95, 0.9, 0.2), GOOD, True, None),  # better everywhere
    ],
)
def test_gate_scenarios(
    challenger: Metrics, champion: Metrics | None, passes: bool, reason: str | None
) -> None:
    decision = apply_gate(challenger, champion, GATE)
    assert decision.passed is passes
    if reason:
        assert any(reason in r for r in decision.reasons), decision.reasons
    else:
        assert decision.reasons == ()


def test_decision_round_trips_through_tags() -> None:
    decision = apply_gate(GOOD, Metrics(0.8, 0.9, 0.75, 0.45), GATE)
    tags = decision.as_tags()
    assert tags["gate.passed"] == "false"
    again = decision_from_tags(tags)
    assert again.passed is False
    assert again.reasons == decision.reasons
    assert again.challenger.as_dict() == pytest.approx(decision.challenger.as_dict())
    assert again.champion is not None
    assert again.champion.as_dict() == pytest.approx(
        {"accuracy": 0.8, "roc_auc": 0.9, "f1": 0.75, "log_loss": 0.45}
    )
    with pytest.raises(TrackingError):
        decision_from_tags({})
    # Other tags under the same prefix (evaluate_step adds the champion's version) are not metrics.
    with_version = {**tags, "gate.champion.version": "3"}
    assert decision_from_tags(with_version).champion == again.champion
    partial = {k: v for k, v in tags.items() if k != "gate.challenger.f1"}
    with pytest.raises(TrackingError, match=r"gate\.challenger\.f1"):
        decision_from_tags(partial)


def test_score_matches_hand_computed_values() -> None:
    y = np.array([0, 0, 1, 1])
    p = np.array([0.1, 0.6, 0.4, 0.9])
    metrics = score(y, p)
    assert metrics.accuracy == pytest.approx(0.5)
    assert metrics.roc_auc == pytest.approx(0.75)
    assert metrics.f1 == pytest.approx(0.5)
    expected = -np.mean(np.log([0.9, 0.4, 0.4, 0.9]))
    assert metrics.log_loss == pytest.approx(expected)
