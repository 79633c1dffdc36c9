"""The rollout's progress display: the pure formatting on its own, then the recorder as
the controller drives it.

The controller runs through test_controller's in-process ports (router, metric source,
abort signal, champion registry: no servers, a fake clock), as test_controller does: the
point here is what the recorder writes at each point of a real controller loop.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
import test_controller as loop

from slipway.rollout.outcome import RolloutOutcome, StepRecord
from slipway.rollout.progress import (
    CLEAR,
    ProgressRecorder,
    decision_line,
    duration,
    fit,
    live_line,
    measurements_text,
    progress_event,
    side_text,
    step_line,
    window_left,
)

WINDOW = loop.SETTINGS.window_seconds
MEASURED = [
    {"metric": "error_rate", "outcome": "pass", "p_value": 0.41, "dry_run": False},
    {"metric": "latency", "outcome": "pass", "p_value": None, "dry_run": False},
    {"metric": "scores", "outcome": "inconclusive", "p_value": None, "dry_run": True},
]


def _outcome(checks: list[dict[str, Any]] | None = None) -> RolloutOutcome:
    outcome = RolloutOutcome("m", "2", "1", started_at=1000.0)
    outcome.steps = [
        StepRecord(10, 1000.0, decision="promote", outcome="pass"),
        StepRecord(
            50, 1100.0, canary={"requests": 200.0, "errors": 4.0, "p99_ms": 12.3},
            champion={"requests": 200.0, "errors": 0.0, "p99_ms": 10.0},
            checks=checks or [],
        ),
    ]  # fmt: skip
    return outcome


def test_time_left_counts_each_extension_as_a_new_window() -> None:
    step = StepRecord(10, 1000.0)
    assert window_left(step, 60, 1015.0) == 45.0
    assert window_left(step, 60, 1075.0) == 0.0  # past the window: never negative
    step.checks.append({"kind": "check"})  # a mid-window check opens no window
    assert window_left(step, 60, 1015.0) == 45.0
    step.checks.append({"kind": "judgement"})  # inconclusive: held for another window
    assert window_left(step, 60, 1075.0) == 45.0


def test_the_progress_event_has_the_step_share_window_and_both_sides() -> None:
    checks = [{"kind": "check", "measurements": MEASURED}]
    event = progress_event(_outcome(checks), [10, 50, 100], 60, 1130.0)
    assert event["event"] == "slipway.rollout.progress"
    assert (event["step"], event["percent"], event["window_left_s"]) == (2, 50, 30.0)
    assert event["canary_stats"]["error_rate"] == 0.02
    assert event["champion_stats"]["error_rate"] == 0.0
    assert [m["outcome"] for m in event["latest"]] == ["pass", "pass", "inconclusive"]
    json.dumps(event, allow_nan=False)  # JSON as it is written: no NaN anywhere


def test_the_progress_event_before_the_first_step_waits_for_metrics() -> None:
    outcome = RolloutOutcome("m", "2", "1", started_at=1000.0)
    event = progress_event(outcome, [10, 50], 60, 1001.0)
    assert event["phase"] == "deployed" and event["percent"] == 10
    assert "canary serving at 10%, waiting for its metrics" in live_line(event)


def test_a_side_without_requests_shows_no_rate() -> None:
    assert side_text({"requests": None, "errors": None, "p99_ms": None}) == "- req - err p99 -"
    assert side_text({"requests": 200.0, "error_rate": 0.02, "p99_ms": 12.3}) == (
        "200 req 2.0% err p99 12ms"
    )


def test_the_live_line_names_every_figure() -> None:
    event = progress_event(_outcome([{"kind": "check", "measurements": MEASURED}]),
                           [10, 50, 100], 60, 1130.0)  # fmt: skip
    line = live_line(event)
    parts = [
        "v2 vs champion v1", "step 2/3 at 50%", "30s left", "canary 200 req 2.0% err p99 12ms",
        "champion 200 req 0.0% err p99 10ms",
        "last check: error_rate pass, latency pass, scores inconclusive (dry run)",
    ]  # fmt: skip
    for part in parts:
        assert part in line, (part, line)


def test_durations_and_cutting_to_the_terminal() -> None:
    assert [duration(s) for s in (0, 45.4, 185, 3720)] == ["0s", "45s", "3m05s", "1h02m"]
    assert fit("abcdef", 10) == "abcdef"
    assert fit("abcdefghijkl", 5) == "abcd…" and len(fit("abcdefghijkl", 5)) == 5


def test_step_and_decision_lines() -> None:
    outcome = _outcome()
    step = outcome.steps[-1]
    step.decision, step.outcome, step.reason = "rollback", "fail", "error rate 2.0% > 0.5%"
    step.measurements = [{"metric": "error_rate", "outcome": "fail"}]
    assert step_line(outcome, step, 3) == (
        "step 2/3 at 50%: fail, rolled back (error_rate fail): error rate 2.0% > 0.5%"
    )
    outcome.decision, outcome.reason, outcome.champion_after = "rolled_back", "breach", "1"
    outcome.finished_at = 1185.0
    assert decision_line(outcome) == "rolled back: v2 after 3m05s, champion v1 -> v1: breach"
    assert measurements_text([]) == ""
    step.decision, step.outcome = "promote", "pass"
    assert step_line(outcome, step, 3).startswith("step 2/3 at 50%: pass, to the next step (")
    assert step_line(outcome, step, 2).startswith("step 2/2 at 50%: pass, to promotion (")


def _recorded(canary: list[Any], json_lines: bool, width: int = 400) -> tuple[RolloutOutcome, str]:
    stream = io.StringIO()
    recorder = ProgressRecorder(stream, WINDOW, json_lines, width=lambda: width)
    outcome, _, _ = loop._run(canary, recorders=[recorder])
    return outcome, stream.getvalue()


def test_json_lines_one_event_a_line_from_start_to_decision() -> None:
    outcome, text = _recorded([loop.GOOD], json_lines=True)
    events = [json.loads(line) for line in text.splitlines()]
    kinds = [e["event"].removeprefix("slipway.rollout.") for e in events]
    assert kinds[0] == "started" and kinds[-2:] == ["promoted", "decision"]
    assert kinds.count("step") == 3  # one judgement per step
    progress = [e for e in events if e["event"] == "slipway.rollout.progress"]
    checked = [e for e in progress if e.get("checks")]
    assert checked, kinds
    # Each check's own measurements, not the one before's (the hook runs after _keep).
    assert all(len(e["latest"]) > 0 for e in checked)
    assert {e["percent"] for e in checked} == {10, 50, 100}
    assert all(e["canary_stats"]["requests"] == 100 for e in checked)
    assert all(0 <= e["window_left_s"] <= WINDOW for e in checked)
    assert events[-1]["outcome"]["decision"] == outcome.decision == "promoted"
    assert CLEAR not in text


def test_the_terminal_form_redraws_one_line_and_keeps_the_judged_steps() -> None:
    outcome, text = _recorded([loop.BAD], json_lines=False, width=80)
    assert outcome.decision == "rolled_back"
    assert text.startswith("rollout of m v2 against champion v1: steps 10%, 50%, 100%")
    # Lines end with "\n" only; a redraw starts with CLEAR ("\r" and erase the line).
    lasting = [line.rsplit(CLEAR, 1)[-1] for line in text.split("\n") if line]
    assert any(line.startswith("step 1/3 at 10%: fail, rolled back") for line in lasting), text
    assert lasting[-1].startswith("rolled back: v2"), text
    # The live lines: each redrawn over the last, never wider than the terminal.
    live = [chunk for chunk in text.split(CLEAR) if chunk and "\n" not in chunk]
    assert live and all(len(chunk) <= 80 for chunk in live), live


def test_a_broken_stream_never_stops_the_rollout() -> None:
    """Negative case: the recorder fails at every point (a closed pipe); the rollout still
    reaches its decision (the Recorders policy)."""
    stream = io.StringIO()
    stream.close()
    recorder = ProgressRecorder(stream, WINDOW, json_lines=True)
    with pytest.raises(ValueError, match="closed file"):
        recorder.started(RolloutOutcome("m", "2", "1"), [10])
    outcome, _, _ = loop._run([loop.GOOD], recorders=[recorder])
    assert outcome.decision == "promoted"


def test_the_recorder_knows_whether_it_wrote_the_decision() -> None:
    """The CLI writes the decision itself when no controller ran (a rerun that only
    finished a recovered rollout): the recorder says whether it did."""
    stream = io.StringIO()
    recorder = ProgressRecorder(stream, WINDOW, json_lines=True)
    assert not recorder.decided
    loop._run([loop.GOOD], recorders=[recorder])
    assert recorder.decided


def _shadowed() -> RolloutOutcome:
    """A rollout in its shadow phase (a step at 0%, the comparison's figures as the
    controller records them), then at its first canary step."""
    outcome = RolloutOutcome("m", "2", "1", started_at=1000.0)
    shadow = StepRecord(0, 1000.0, canary={"agree": 95.0, "disagree": 5.0, "error": 0.0,
                                           "dropped": 0.0, "agreement": 0.95})  # fmt: skip
    shadow.checks.append({"kind": "shadow check", "measurements": [
        {"metric": "agreement", "outcome": "pass"}]})  # fmt: skip
    outcome.steps = [shadow]
    return outcome


def test_the_shadow_phase_is_no_canary_step() -> None:
    outcome = _shadowed()
    event = progress_event(outcome, [10, 50], 60, 1010.0, shadow_seconds=30)
    assert (event["phase"], event["step"], event["window_left_s"]) == ("shadow", 0, 20.0)
    assert event["shadow_stats"]["agreement"] == 0.95
    line = live_line(event)
    assert "shadow (no live answers) · 20s left · agree 95, disagree 5" in line, line
    assert "agreement 0.950" in line and "last check: agreement pass" in line
    assert progress_event(outcome, [10, 50], 60, 1010.0)["window_left_s"] is None
    shadow = outcome.steps[0]
    shadow.decision, shadow.outcome, shadow.reason = "promote", "pass", "agreement 95%"
    assert step_line(outcome, shadow, 2).startswith("shadow: pass, to the canary steps (")
    # The first canary step after the shadow phase is step 1, not 2.
    outcome.steps.append(StepRecord(10, 1031.0))
    assert progress_event(outcome, [10, 50], 60, 1040.0)["step"] == 1
    outcome.steps[-1].decision = "promote"
    assert step_line(outcome, outcome.steps[-1], 2).startswith("step 1/2 at 10%: -, to the next")
