"""Where a rollout leaves its record, one class per place, and the one error policy.

- ``EventLog``: one JSON line per event on the ``slipway.rollout.events`` logger;
- ``StateFile``: the current or last rollout, for ``slipway rollout status``;
- ``BackendDecision``: the backend's own record of the decision (an InferenceService
  annotation on KServe, a decisions .jsonl in the local stack);
- ``slipway.rollout.model_registry.MlflowTags``: tags on the candidate model version;

The error policy, for all of them, lives in ``Recorders``: a recorder that raises is
logged and skipped, and the rollout goes on. A record is never a reason to keep a canary
serving, and a rollback never waits for one.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from slipway.errors import RolloutError
from slipway.rollout.outcome import RolloutOutcome, StepRecord
from slipway.state_files import write_json

if TYPE_CHECKING:
    from slipway.registry.model_version import ModelVersion
    from slipway.rollout.ports import Recorder, RolloutBackend

log = logging.getLogger(__name__)
EVENTS_LOGGER = "slipway.rollout.events"


class BaseRecorder:
    """A recorder that records nothing: subclasses override the points they care about."""

    def started(self, outcome: RolloutOutcome, steps: list[int]) -> None:
        return None

    def progressed(self, outcome: RolloutOutcome) -> None:
        return None

    def step_judged(self, outcome: RolloutOutcome, step: StepRecord) -> None:
        return None

    def step_passed(self, outcome: RolloutOutcome, number: int, step: StepRecord) -> None:
        return None

    def promoted(self, outcome: RolloutOutcome, canary: ModelVersion) -> None:
        return None

    def finished(self, outcome: RolloutOutcome) -> None:
        return None


class Recorders:
    """Every recorder, called in order at each point of the rollout.

    The one error policy: an ``Exception`` from a recorder is logged as a warning naming
    the recorder, and the next recorder runs; the controller never sees it. (An interrupt,
    Ctrl-C, still propagates: the controller then rolls back.)
    """

    def __init__(self, recorders: Sequence[Recorder]) -> None:
        self.recorders = list(recorders)

    def _each(self, point: str, call: Callable[[Recorder], None]) -> None:
        for recorder in self.recorders:
            try:
                call(recorder)
            except Exception as exc:
                log.warning("%s could not record %s: %s", type(recorder).__name__, point, exc)

    def started(self, outcome: RolloutOutcome, steps: list[int]) -> None:
        self._each("the start", lambda r: r.started(outcome, steps))

    def progressed(self, outcome: RolloutOutcome) -> None:
        self._each("progress", lambda r: r.progressed(outcome))

    def step_judged(self, outcome: RolloutOutcome, step: StepRecord) -> None:
        self._each("a step's decision", lambda r: r.step_judged(outcome, step))

    def step_passed(self, outcome: RolloutOutcome, number: int, step: StepRecord) -> None:
        self._each("a passed step", lambda r: r.step_passed(outcome, number, step))

    def promoted(self, outcome: RolloutOutcome, canary: ModelVersion) -> None:
        self._each("the promotion", lambda r: r.promoted(outcome, canary))

    def finished(self, outcome: RolloutOutcome) -> None:
        self._each("the decision", lambda r: r.finished(outcome))


def event_line(outcome: RolloutOutcome, kind: str, at: float, /, **fields: Any) -> str:
    """One rollout event as a JSON line: the event log's and the progress display's."""
    record = {
        "event": f"slipway.rollout.{kind}",
        "model": outcome.model,
        "version": outcome.version,
        "champion": outcome.champion_before,
        "at": round(at, 3),
        **fields,
    }
    return json.dumps(record, sort_keys=True, default=str)


class EventLog(BaseRecorder):
    """One JSON line per event (started, step, decision) on ``slipway.rollout.events``.
    On failure (a broken log handler): that line is lost."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.logger = logger or logging.getLogger(EVENTS_LOGGER)

    def _event(self, outcome: RolloutOutcome, kind: str, **fields: Any) -> None:
        self.logger.info(event_line(outcome, kind, time.time(), **fields))

    def started(self, outcome: RolloutOutcome, steps: list[int]) -> None:
        self._event(outcome, "started", steps=steps)

    def step_judged(self, outcome: RolloutOutcome, step: StepRecord) -> None:
        self._event(
            outcome, "step", percent=step.percent, decision=step.decision, reason=step.reason,
            canary=step.canary, champion=step.champion, step_outcome=step.outcome,
            measurements=step.measurements,
        )  # fmt: skip

    def finished(self, outcome: RolloutOutcome) -> None:
        self._event(
            outcome, "decision", decision=outcome.decision, reason=outcome.reason,
            champion_after=outcome.champion_after, gitops=outcome.gitops,
        )  # fmt: skip


class StateFile(BaseRecorder):
    """The current or last rollout, for ``slipway rollout status`` (written atomically),
    with the traffic split when a router is given. On failure (a full disk, a traffic
    query that fails): the file keeps its last content; an unreadable split is written
    as empty."""

    def __init__(self, path: Path, traffic: Callable[[], dict[str, int]] | None = None) -> None:
        self.path = path
        self.traffic = traffic

    def write(self, outcome: RolloutOutcome, traffic: dict[str, int] | None = None) -> None:
        write_json(self.path, outcome.summary() | {"traffic": traffic or {}})

    def read(self) -> dict[str, Any] | None:
        if not self.path.is_file():
            return None
        try:
            data: dict[str, Any] = json.loads(self.path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise RolloutError(
                f"corrupt rollout state {self.path}: {exc}; remove it (the InferenceService "
                "or the router holds the live traffic split)"
            ) from exc
        return data

    def _save(self, outcome: RolloutOutcome) -> None:
        traffic: dict[str, int] = {}
        if self.traffic is not None:
            try:
                traffic = self.traffic()
            except Exception:  # the split is a nicety; the outcome is what status needs
                traffic = {}
        self.write(outcome, traffic)

    def progressed(self, outcome: RolloutOutcome) -> None:
        self._save(outcome)

    def step_judged(self, outcome: RolloutOutcome, step: StepRecord) -> None:
        self._save(outcome)

    def finished(self, outcome: RolloutOutcome) -> None:
        self._save(outcome)


class BackendDecision(BaseRecorder):
    """The decision where the platform's operators look (``RolloutBackend.record_decision``:
    an annotation on the InferenceService, a line in the local decisions file). On failure
    (the API refuses the patch, the file cannot be written): the decision stands
    unrecorded there."""

    def __init__(self, backend: RolloutBackend) -> None:
        self.backend = backend

    def finished(self, outcome: RolloutOutcome) -> None:
        self.backend.record_decision(
            {
                "decision": outcome.decision,
                "version": outcome.version,
                "champion": outcome.champion_before,
                "reason": outcome.reason,
                "at": round(time.time(), 3),
                "champion_after": outcome.champion_after,
                # Each step's last judgement: its outcome and measurements (test, statistic,
                # p-value, samples), so the annotation alone says why. Without each
                # measurement's prose (the step's reason has it): an annotation is short.
                "steps": [
                    {
                        "percent": step.percent,
                        "decision": step.decision,
                        "outcome": step.outcome,
                        "measurements": [
                            {k: v for k, v in m.items() if k != "reason"} for m in step.measurements
                        ],
                    }
                    for step in outcome.steps
                ],
            }
        )
