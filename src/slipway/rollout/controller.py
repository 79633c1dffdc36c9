"""The rollout controller: steps a canary through its traffic percentages and acts on the
decisions of slipway.rollout.analysis.

For each step: set the canary's share, then watch a window. Every check interval it takes
a snapshot (PromQL over the time since the step began) and rolls back at once on a breach;
at the end of the window it decides: next step, extend the window, or roll back. After the
last step the version is promoted: the traffic moves for good, the ``champion`` alias
moves, and the serving version is written to git. A rollback leaves the alias alone.

Every decision is recorded three ways: MLflow tags on the candidate version, the
backend's record (an annotation on the InferenceService; a log file locally), and one JSON
log line on the ``slipway.rollout.events`` logger.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from slipway.config import RolloutSettings
from slipway.errors import RolloutError
from slipway.registry import aliases
from slipway.rollout.analysis import Action, Decision, Snapshot, Stats, Thresholds, check, decide
from slipway.rollout.gitops import GitOpsRecorder, ServingModel
from slipway.rollout.ports import Backend, ModelTarget
from slipway.rollout.prometheus import PrometheusClient

log = logging.getLogger(__name__)
events = logging.getLogger("slipway.rollout.events")

PROMOTED, ROLLED_BACK, ABORTED = "promoted", "rolled_back", "aborted"


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


@dataclass
class RolloutOutcome:
    model: str
    version: str
    champion_before: str
    decision: str = "running"
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


class StateFile:
    """The current or last rollout, for ``slipway rollout status`` (written atomically)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, outcome: RolloutOutcome, traffic: dict[str, int] | None = None) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = outcome.summary() | {"traffic": traffic or {}}
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
        tmp.replace(self.path)

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


def _stats_dict(stats: Stats) -> dict[str, float | None]:
    # NaN (no data) becomes null: JSON has no NaN.
    return {
        k: (None if math.isnan(v) else round(v, 3))
        for k, v in (
            ("requests", stats.requests),
            ("errors", stats.errors),
            ("p99_ms", stats.p99_ms),
        )
    }


class RolloutController:
    def __init__(
        self,
        settings: RolloutSettings,
        backend: Backend,
        prometheus: PrometheusClient,
        client: Any,
        gitops: GitOpsRecorder | None = None,
        state: StateFile | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        series_timeout: float = 60.0,
    ) -> None:
        self.series_timeout = series_timeout
        self.settings = settings
        self.thresholds = Thresholds.from_settings(settings)
        self.backend = backend
        self.prometheus = prometheus
        self.client = client
        self.gitops = gitops
        self.state = state
        self.clock = clock
        self.sleep = sleep

    # ------------------------------------------------------------------ recording

    def _save(self, outcome: RolloutOutcome) -> None:
        if self.state is None:
            return
        try:
            traffic = self.backend.traffic()
        except Exception:  # status is best effort; the rollout must go on
            traffic = {}
        self.state.write(outcome, traffic)

    def _event(self, outcome: RolloutOutcome, kind: str, **fields: Any) -> dict[str, Any]:
        record = {
            "event": f"slipway.rollout.{kind}",
            "model": outcome.model,
            "version": outcome.version,
            "champion": outcome.champion_before,
            "at": round(time.time(), 3),
            **fields,
        }
        events.info(json.dumps(record, sort_keys=True, default=str))
        return record

    def _tag(self, outcome: RolloutOutcome, key: str, value: str) -> None:
        try:
            self.client.set_model_version_tag(outcome.model, outcome.version, key, value[:5000])
        except Exception as exc:  # MLflow down must not stop a rollback
            log.warning("could not tag %s v%s: %s", outcome.model, outcome.version, exc)

    # ------------------------------------------------------------------ the loop

    def snapshot(self, outcome: RolloutOutcome, seconds: float) -> Snapshot:
        return self.prometheus.snapshot(
            outcome.model, outcome.version, outcome.champion_before, seconds
        )

    def run(self, canary: ModelTarget, champion: ModelTarget) -> RolloutOutcome:
        s = self.settings
        outcome = RolloutOutcome(canary.name, canary.version, champion.version)
        self._tag(outcome, "slipway.rollout.status", "running")
        self._event(outcome, "started", steps=s.steps)
        try:
            self.backend.deploy_canary(canary, champion, s.steps[0])
            self._save(outcome)
            # A window must not open before Prometheus scrapes the canary: its first
            # requests would be missed and the window judged on too few.
            self.prometheus.wait_for_series(canary.name, canary.version, self.series_timeout)
            baseline: Stats | None = None
            for index, percent in enumerate(s.steps):
                if index:
                    self.backend.set_canary_traffic(percent)
                step = StepRecord(percent, time.time())
                outcome.steps.append(step)
                self._save(outcome)
                decision = self._watch_step(outcome, step, baseline)
                step.finished_at = time.time()
                if decision.action is not Action.PROMOTE:
                    return self._roll_back(outcome, decision)
                baseline = decision.baseline
                self._tag(
                    outcome, f"slipway.rollout.step.{index + 1}", f"{percent}%: {decision.reason}"
                )
        except BaseException as exc:
            # Fail safe: whatever stopped the analysis (Prometheus gone, Ctrl-C, a bug), the
            # canary does not keep its traffic. The error still propagates.
            reason = f"rollout interrupted: {type(exc).__name__}: {exc}"
            log.error("%s; rolling back", reason)
            self._roll_back(outcome, Decision(Action.ROLLBACK, reason, ("error",)))
            raise
        return self._promote(outcome, canary)

    def _watch_step(
        self, outcome: RolloutOutcome, step: StepRecord, baseline: Stats | None
    ) -> Decision:
        s, t = self.settings, self.thresholds
        extensions = 0
        while True:
            start = self.clock()
            while True:
                elapsed = self.clock() - start
                remaining = s.window_seconds - elapsed
                if remaining <= 0:
                    break
                self.sleep(min(s.check_interval_seconds, remaining))
                if self.backend.abort_requested():
                    return Decision(Action.ROLLBACK, "aborted by request", ("abort",))
                snap = self.snapshot(outcome, min(self.clock() - start, s.window_seconds))
                step.canary, step.champion = _stats_dict(snap.canary), _stats_dict(snap.champion)
                self._save(outcome)
                early = check(snap, baseline, t)
                if early.action is Action.ROLLBACK:
                    outcome.breach_detected_at = time.time()
                    self._record_step(outcome, step, early, extensions)
                    return early
            snap = self.snapshot(outcome, s.window_seconds)
            step.canary, step.champion = _stats_dict(snap.canary), _stats_dict(snap.champion)
            decision = decide(snap, baseline, extensions, t)
            self._record_step(outcome, step, decision, extensions)
            if decision.action is Action.ROLLBACK:
                outcome.breach_detected_at = time.time()
            if decision.action is not Action.EXTEND:
                return decision
            extensions += 1

    def _record_step(
        self, outcome: RolloutOutcome, step: StepRecord, decision: Decision, extensions: int
    ) -> None:
        step.decision, step.reason, step.extensions = (
            decision.action.value,
            decision.reason,
            extensions,
        )
        self._event(
            outcome, "step", percent=step.percent, decision=decision.action.value,
            reason=decision.reason, canary=step.canary, champion=step.champion,
        )  # fmt: skip
        self._save(outcome)

    def _finish(self, outcome: RolloutOutcome) -> None:
        outcome.finished_at = time.time()
        record = self._event(
            outcome, "decision", decision=outcome.decision, reason=outcome.reason,
            champion_after=outcome.champion_after, gitops=outcome.gitops,
        )  # fmt: skip
        try:
            self.backend.record_decision(
                {k: record[k] for k in ("decision", "version", "champion", "reason", "at")}
                | {"champion_after": outcome.champion_after}
            )
        except Exception as exc:  # the decision stands even if the note cannot be written
            log.warning("could not record the decision on the backend: %s", exc)
        self._tag(outcome, "slipway.rollout.status", outcome.decision)
        self._tag(outcome, "slipway.rollout.analysis", outcome.decision)
        self._tag(outcome, "slipway.rollout.reason", outcome.reason)
        self._tag(outcome, "slipway.rollout.finished_at", f"{outcome.finished_at:.3f}")
        self._save(outcome)

    def _roll_back(self, outcome: RolloutOutcome, decision: Decision) -> RolloutOutcome:
        self.backend.rollback()
        outcome.rollback_done_at = time.time()
        outcome.decision = ABORTED if decision.breaches == ("abort",) else ROLLED_BACK
        outcome.reason = decision.reason
        outcome.champion_after = outcome.champion_before
        self._finish(outcome)
        return outcome

    def _promote(self, outcome: RolloutOutcome, canary: ModelTarget) -> RolloutOutcome:
        self.backend.promote()
        reason = f"canary analysis passed at {', '.join(f'{p}%' for p in self.settings.steps)}"
        aliases.promote(self.client, canary.name, canary.version, f"rollout: {reason}")
        outcome.decision, outcome.reason = PROMOTED, reason
        outcome.champion_after = canary.version
        if self.gitops is not None and self.gitops.settings.enabled:
            try:
                record = self.gitops.record_promotion(
                    ServingModel(canary.name, canary.version, canary.run_id, canary.storage_uri),
                    reason,
                )
                outcome.gitops = record.to_dict()
            except Exception as exc:  # the promotion happened; git is told separately
                log.warning("promotion not recorded in git: %s", exc)
                outcome.gitops = {"kind": "error", "error": str(exc)}
            self._tag(outcome, "slipway.rollout.gitops", json.dumps(outcome.gitops))
        self._finish(outcome)
        return outcome
