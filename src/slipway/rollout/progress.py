"""The progress of a running rollout, for a person at a terminal or a program reading it.

``ProgressRecorder`` is a recorder (slipway.rollout.records): the controller calls it at
each point of the rollout, as it calls the others. It writes either

- JSON lines, one per event (``slipway.rollout.started|progress|step|promoted|decision``),
  for a program or a log (stdout not a terminal, or ``--json``); or
- on a terminal, one live line redrawn at each check (step, canary share, time left in the
  window, each side's requests, error rate and p99, the latest check's outcome per metric)
  and a lasting line per judged step and for the decision.

Which one is the CLI's choice. Everything from the outcome to text is a pure function
here (``progress_event``, ``live_line``, ``step_line``, ``decision_line``), tested on its
own; the recorder only picks one and writes it.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any

from slipway.rollout.outcome import RolloutOutcome, StepRecord
from slipway.rollout.records import BaseRecorder, event_line

if TYPE_CHECKING:
    from slipway.registry.model_version import ModelVersion

CLEAR = "\r\x1b[K"  # back to the start of the line, erase it: the live line is redrawn
# What a step's decision means, in words.
NEXT = {"extend": "held for another window", "rollback": "rolled back"}


def error_rate(side: dict[str, float | None]) -> float | None:
    requests, errors = side.get("requests"), side.get("errors")
    if not requests or errors is None:
        return None
    return errors / requests


def window_left(step: StepRecord, window_seconds: float, now: float) -> float:
    """Seconds left in the step's current window: each inconclusive judgement (an
    extension) opened a new window of ``window_seconds``."""
    return max(0.0, step.started_at + (1 + _judgements(step)) * window_seconds - now)


def _judgements(step: StepRecord) -> int:
    # "judgement", or "shadow judgement" in the shadow phase: a window's end.
    return sum(1 for check in step.checks if str(check.get("kind", "")).endswith("judgement"))


def is_shadow(step: StepRecord) -> bool:
    """The shadow phase's step: a share of requests copied to the challenger, no traffic
    of its own (its record is a step at 0%)."""
    return step.percent == 0


def step_number(outcome: RolloutOutcome) -> int:
    """The current canary step, from 1: the shadow phase is no step of its own."""
    return sum(1 for step in outcome.steps if not is_shadow(step))


def _latest(step: StepRecord) -> list[dict[str, Any]]:
    if not step.checks:
        return []
    return [
        {"metric": m.get("metric"), "outcome": m.get("outcome"), "p_value": m.get("p_value"),
         "dry_run": bool(m.get("dry_run"))}
        for m in step.checks[-1].get("measurements", [])
    ]  # fmt: skip


def progress_event(
    outcome: RolloutOutcome,
    steps: list[int],
    window_seconds: float,
    now: float,
    shadow_seconds: float | None = None,
) -> dict[str, Any]:
    """Where the rollout stands now, as one JSON-ready event. ``shadow_seconds``: the
    shadow phase's window (none: the time left there is not known)."""
    event: dict[str, Any] = {
        "event": "slipway.rollout.progress",
        "model": outcome.model,
        "version": outcome.version,
        "champion": outcome.champion_before,
        "at": round(now, 3),
        "steps": steps,
        "elapsed_s": round(now - outcome.started_at, 1),
    }
    if not outcome.steps:
        # Called once the canary serves: its series are awaited before the first window.
        return event | {"step": 0, "percent": steps[0] if steps else None, "phase": "deployed"}
    step = outcome.steps[-1]
    if is_shadow(step):
        left = None if shadow_seconds is None else window_left(step, shadow_seconds, now)
        return event | {
            "step": 0,
            "percent": 0,
            "phase": "shadow",
            "window_left_s": None if left is None else round(left, 1),
            "extensions": _judgements(step),
            "checks": len(step.checks),
            "latest": _latest(step),
            "shadow_stats": dict(step.canary),
        }
    sides = {}
    for name, side in (("canary", step.canary), ("champion", step.champion)):
        rate = error_rate(side)
        sides[f"{name}_stats"] = dict(side) | {
            "error_rate": None if rate is None else round(rate, 6)
        }
    return event | {
        "step": step_number(outcome),
        "percent": step.percent,
        "phase": "analysing",
        "window_left_s": round(window_left(step, window_seconds, now), 1),
        "extensions": _judgements(step),
        "checks": len(step.checks),
        "latest": _latest(step),
        **sides,
    }


def _num(value: float | None, unit: str = "", digits: int = 0) -> str:
    return "-" if value is None else f"{value:.{digits}f}{unit}"


def side_text(side: dict[str, Any]) -> str:
    """``120 req 0.8% err p99 12ms``."""
    rate = side.get("error_rate")
    return (
        f"{_num(side.get('requests'))} req "
        f"{_num(None if rate is None else 100 * rate, '%', 1)} err "
        f"p99 {_num(side.get('p99_ms'), 'ms')}"
    )


def measurements_text(measurements: list[dict[str, Any]]) -> str:
    """``error_rate pass, latency pass, scores inconclusive (dry run)``."""
    return ", ".join(
        f"{m.get('metric')} {m.get('outcome')}" + (" (dry run)" if m.get("dry_run") else "")
        for m in measurements
    )


def duration(seconds: float) -> str:
    """``45s``, ``3m05s``, ``1h02m``."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def live_line(event: dict[str, Any]) -> str:
    """The live line of a ``progress`` event."""
    head = f"v{event['version']} vs champion v{event['champion']}"
    total = len(event.get("steps") or [])
    if event.get("phase") == "deployed":
        return f"{head} · canary serving at {event.get('percent')}%, waiting for its metrics"
    left = event.get("window_left_s")
    left_text = "-" if left is None else duration(left)
    if event.get("phase") == "shadow":
        figures = ", ".join(f"{k} {_num(v, digits=3 if k == 'agreement' else 0)}"
                            for k, v in event["shadow_stats"].items())  # fmt: skip
        parts = [head, "shadow (no live answers)", f"{left_text} left", figures]
        if event.get("latest"):
            parts.append(f"last check: {measurements_text(event['latest'])}")
        return " · ".join(parts)
    parts = [
        head,
        f"step {event['step']}/{total} at {event['percent']}%",
        f"{left_text} left",
        f"canary {side_text(event['canary_stats'])}",
        f"champion {side_text(event['champion_stats'])}",
    ]
    if event.get("latest"):
        parts.append(f"last check: {measurements_text(event['latest'])}")
    return " · ".join(parts)


def step_line(outcome: RolloutOutcome, step: StepRecord, total: int) -> str:
    """The lasting line of a judged step."""
    what = NEXT.get(step.decision, step.decision)
    number = step_number(outcome)
    if is_shadow(step):
        where = "shadow"
        what = "to the canary steps" if step.decision == "promote" else what
    else:
        where = f"step {number}/{total} at {step.percent}%"
        if step.decision == "promote":
            what = "to promotion" if number >= total else "to the next step"
    return (
        f"{where}: {step.outcome or '-'}, {what}"
        f" ({measurements_text(step.measurements) or 'no measurements'}): {step.reason}"
    )


def decision_line(outcome: RolloutOutcome) -> str:
    took = ""
    if outcome.finished_at is not None:
        took = f" after {duration(outcome.finished_at - outcome.started_at)}"
    champion = f"champion v{outcome.champion_before} -> v{outcome.champion_after or '?'}"
    return (
        f"{outcome.decision.replace('_', ' ')}: v{outcome.version}{took}, {champion}: "
        f"{outcome.reason}"
    )


def fit(line: str, width: int) -> str:
    """The line cut to the terminal's width: a wrapped live line cannot be redrawn."""
    return line if len(line) <= width else line[: max(width - 1, 0)] + "…"


class ProgressRecorder(BaseRecorder):
    """Writes the rollout's progress to ``stream``: JSON lines (``json_lines``), or a live
    line and lasting lines for a terminal. On failure (a closed pipe): that write is lost
    and the rollout goes on (the ``Recorders`` policy)."""

    def __init__(
        self,
        stream: IO[str],
        window_seconds: float,
        json_lines: bool,
        clock: Callable[[], float] = time.time,
        width: Callable[[], int] | None = None,
        shadow_seconds: float | None = None,
    ) -> None:
        self.stream = stream
        self.window_seconds = window_seconds
        self.shadow_seconds = shadow_seconds
        self.json_lines = json_lines
        self.clock = clock
        self.width = width or (lambda: shutil.get_terminal_size().columns)
        self.steps: list[int] = []
        self.live = False  # a live line is on the terminal, not yet ended
        self.decided = False  # the decision was written (not when a recovery ended it)

    def _json(self, kind: str, of: RolloutOutcome, **fields: Any) -> None:
        self._write(event_line(of, kind, self.clock(), **fields) + "\n")

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()

    def _lasting(self, line: str) -> None:
        self._write((CLEAR if self.live else "") + line + "\n")
        self.live = False

    def started(self, outcome: RolloutOutcome, steps: list[int]) -> None:
        self.steps = list(steps)
        if self.json_lines:
            self._json("started", outcome, steps=self.steps)
        else:
            shares = ", ".join(f"{p}%" for p in steps)
            self._lasting(
                f"rollout of {outcome.model} v{outcome.version} against champion "
                f"v{outcome.champion_before}: steps {shares}, windows of "
                f"{duration(self.window_seconds)}"
            )

    def progressed(self, outcome: RolloutOutcome) -> None:
        event = progress_event(
            outcome, self.steps, self.window_seconds, self.clock(), self.shadow_seconds
        )
        if self.json_lines:
            self._write(json.dumps(event, sort_keys=True, default=str) + "\n")
            return
        self._write(CLEAR + fit(live_line(event), self.width()))
        self.live = True

    def step_judged(self, outcome: RolloutOutcome, step: StepRecord) -> None:
        if self.json_lines:
            self._json(
                "step", outcome, step=step_number(outcome), percent=step.percent,
                decision=step.decision, step_outcome=step.outcome, reason=step.reason,
                canary_stats=step.canary, champion_stats=step.champion,
                measurements=step.measurements,
            )  # fmt: skip
        else:
            self._lasting(step_line(outcome, step, len(self.steps)))

    def promoted(self, outcome: RolloutOutcome, canary: ModelVersion) -> None:
        if self.json_lines:
            self._json("promoted", outcome, champion_after=canary.version)

    def finished(self, outcome: RolloutOutcome) -> None:
        self.decided = True
        if self.json_lines:
            self._json("decision", outcome, outcome=outcome.summary())
        else:
            self._lasting(decision_line(outcome))
