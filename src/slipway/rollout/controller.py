"""The rollout controller: the loop that steps a canary through its traffic percentages
and acts on the judgement of slipway.rollout.analysis.

With ``rollout.shadow.percent`` above 0 a shadow phase comes first: the challenger is served
with no live traffic, a share of the live requests is mirrored to it and the answers
compared (slipway.serving.shadow); its agreement is judged by
slipway.rollout.shadow_analysis, with the three outcomes of the steps. It is recorded as a
step at 0%. A fail rolls back before the challenger ever served a live request.

For each step: set the canary's share, then watch a window. Every check interval it takes
a snapshot (the metric source, over the time since the step began) and rolls back at once
on a breach; at the end of the window it judges: next step, extend the window, or roll
back. After the last step the version is promoted: the traffic moves for good and the
``champion`` alias moves. A rollback leaves the alias alone.

The controller works only through its ports (slipway.rollout.ports): a traffic router, a
metric source, an abort signal, the champion registry and its recorders. It records
nothing itself: each record (MLflow tags, the state file, the event log, the backend's
decision record) is a recorder, and a recorder that fails never stops the rollout or its
rollback (slipway.rollout.records.Recorders).

Two things are not records, and their failures count:

- the durable state (``store``, slipway.rollout.state), written ahead of every change, so
  that a controller that dies leaves what the next one needs to roll back or resume; a
  state that cannot be written stops the rollout (it rolls back) rather than run blind;
- the promotion's stages, backend, alias, git (slipway.rollout.promotion), each retried on
  errors that may pass: a failed backend stage is rolled back, a failed alias or git stage
  is left for ``slipway rollout recover`` and raised as ``PromotionIncomplete``.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Sequence

from slipway.config import RolloutSettings
from slipway.errors import RolloutError
from slipway.registry.model_version import ModelVersion
from slipway.rollout.analysis import (
    Action,
    Decision,
    Snapshot,
    Stats,
    Thresholds,
    find_breach,
    judge_window,
)
from slipway.rollout.outcome import (
    ABORTED,
    PROMOTED,
    PROMOTION_PENDING,
    ROLLED_BACK,
    RolloutOutcome,
    StepRecord,
    stats_dict,
)
from slipway.rollout.ports import (
    AbortSignal,
    ChampionRegistry,
    MetricSource,
    Recorder,
    ShadowMetrics,
    ShadowRouter,
    TrafficRouter,
)
from slipway.rollout.promotion import (
    PromotionFailed,
    PromotionIncomplete,
    PromotionRecord,
    Retry,
    StageFailed,
    retrying,
    run_stages,
)
from slipway.rollout.records import Recorders
from slipway.rollout.shadow_analysis import (
    ShadowStats,
    ShadowThresholds,
    judge_shadow,
    shadow_breach,
)
from slipway.rollout.state import STAGES, RolloutState, ServedModel, StateStore

log = logging.getLogger(__name__)

__all__ = ["ABORTED", "PROMOTED", "ROLLED_BACK", "RolloutController", "RolloutOutcome"]


class RolloutController:
    def __init__(
        self,
        settings: RolloutSettings,
        router: TrafficRouter,
        metrics: MetricSource,
        abort: AbortSignal,
        registry: ChampionRegistry,
        recorders: Sequence[Recorder] = (),
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        series_timeout: float = 60.0,
        store: StateStore | None = None,
        git: PromotionRecord | None = None,
        retry: Retry[object] | None = None,
    ) -> None:
        self.settings = settings
        self.thresholds = Thresholds.from_settings(settings)
        self.shadow_thresholds = ShadowThresholds.from_settings(settings)
        self.router = router
        self.metrics = metrics
        self.abort = abort
        self.registry = registry
        self.record = Recorders(recorders)
        self.clock = clock
        self.sleep = sleep
        self.series_timeout = series_timeout
        self.store = store
        self.git = git
        self.retry: Retry[object] = retry or retrying(settings)
        self.state: RolloutState | None = None

    def snapshot(self, outcome: RolloutOutcome, seconds: float) -> Snapshot:
        return self.metrics.snapshot(
            outcome.model, outcome.version, outcome.champion_before, seconds
        )

    def _persist(self, outcome: RolloutOutcome, **changes: object) -> None:
        """The durable state, updated and written (ahead of the change it describes)."""
        if self.store is None or self.state is None:
            return
        for key, value in changes.items():
            setattr(self.state, key, value)
        self.state.steps = [stats_step(step) for step in outcome.steps]
        self.store.save(self.state)

    def run(self, canary: ModelVersion, champion: ModelVersion) -> RolloutOutcome:
        s = self.settings
        outcome = RolloutOutcome(canary.name, canary.version, champion.version)
        self.record.started(outcome, s.steps)
        if self.store is not None:
            self.state = RolloutState(
                model=canary.name,
                version=canary.version,
                champion=champion.version,
                canary=ServedModel.of(canary),
                started_at=outcome.started_at,
            )
        try:
            if s.shadow.percent > 0:
                decision = self._shadow_phase(outcome, canary, champion)
                if decision.action is not Action.PROMOTE:
                    return self._roll_back(outcome, decision)
            self._persist(outcome, step=0, traffic=s.steps[0])
            self.router.deploy_canary(canary, champion, s.steps[0])
            self.record.progressed(outcome)
            # A window must not open before the canary's series exist: its first requests
            # would be missed and the window judged on too few.
            self.metrics.wait_for_series(canary.name, canary.version, self.series_timeout)
            baseline: Stats | None = None
            for index, percent in enumerate(s.steps):
                if index:
                    self._persist(outcome, step=index, traffic=percent)
                    self.router.set_canary_traffic(percent)
                step = StepRecord(percent, time.time())
                outcome.steps.append(step)
                self._persist(outcome)
                self.record.progressed(outcome)
                decision = self._watch_step(outcome, step, baseline)
                step.finished_at = time.time()
                self._persist(outcome)
                if decision.action is not Action.PROMOTE:
                    return self._roll_back(outcome, decision)
                baseline = decision.baseline
                self.record.step_passed(outcome, len(outcome.steps), step)
        except BaseException as exc:
            # Fail safe: whatever stopped the analysis (the metric source gone, Ctrl-C,
            # SIGTERM, a bug), the canary does not keep its traffic. The error propagates.
            reason = f"rollout interrupted: {type(exc).__name__}: {exc}"
            log.error("%s; rolling back", reason)
            self._roll_back(outcome, Decision(Action.ROLLBACK, reason, ("error",)))
            raise
        # An abort that lands after the last check must still win over promotion.
        if self.abort.requested():
            return self._roll_back(
                outcome, Decision(Action.ROLLBACK, "aborted by request", ("abort",))
            )
        return self._promote(outcome, canary)

    def _shadow_phase(
        self, outcome: RolloutOutcome, canary: ModelVersion, champion: ModelVersion
    ) -> Decision:
        """Mirror to the challenger, watch, judge; mirroring is off again on return."""
        router, metrics = self.router, self.metrics
        if not isinstance(router, ShadowRouter) or not isinstance(metrics, ShadowMetrics):
            raise RolloutError(
                "rollout.shadow.percent is set, but this backend or metric source has no "
                "shadow mode; set rollout.shadow.percent to 0"
            )
        self._persist(outcome, step=0, traffic=0)
        try:
            router.start_shadow(canary, champion, self.settings.shadow)
            self.metrics.wait_for_series(canary.name, canary.version, self.series_timeout)
            step = StepRecord(0, time.time())  # the window opens now, as a step's does
            outcome.steps.append(step)
            self._persist(outcome)
            self.record.progressed(outcome)
            decision = self._watch_shadow(outcome, step, metrics)
        finally:
            router.stop_shadow()
        step.finished_at = time.time()
        self._persist(outcome)
        if decision.action is Action.PROMOTE:
            self.record.step_passed(outcome, len(outcome.steps), step)
        return decision

    def _watch_shadow(
        self, outcome: RolloutOutcome, step: StepRecord, metrics: ShadowMetrics
    ) -> Decision:
        duration, t = self.settings.shadow.duration_seconds, self.shadow_thresholds
        interval = self.settings.check_interval_seconds
        extensions = 0

        def measured(seconds: float) -> ShadowStats:
            stats = metrics.shadow_stats(outcome.model, outcome.version, seconds)
            step.canary = _shadow_dict(stats)
            return stats

        while True:
            start = self.clock()
            while (remaining := duration - (self.clock() - start)) > 0:
                self.sleep(min(interval, remaining))
                if self.abort.requested():
                    return Decision(Action.ROLLBACK, "aborted by request", ("abort",))
                early = shadow_breach(measured(min(self.clock() - start, duration)), t)
                _keep(step, "shadow check", early)
                self.record.progressed(outcome)  # with this check's measurements kept
                if early.action is Action.ROLLBACK:
                    outcome.breach_detected_at = time.time()
                    self._judged(outcome, step, _shadow_reason(early), extensions)
                    return _shadow_reason(early)
            decision = _shadow_reason(judge_shadow(measured(duration), extensions, t))
            if self._concluded(outcome, step, "shadow judgement", decision, extensions):
                return decision
            extensions += 1

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
                if self.abort.requested():
                    return Decision(Action.ROLLBACK, "aborted by request", ("abort",))
                snap = self.snapshot(outcome, min(self.clock() - start, s.window_seconds))
                step.canary, step.champion = stats_dict(snap.canary), stats_dict(snap.champion)
                early = find_breach(snap, baseline, t)
                _keep(step, "check", early)
                self.record.progressed(outcome)  # with this check's measurements kept
                if early.action is Action.ROLLBACK:
                    outcome.breach_detected_at = time.time()
                    self._judged(outcome, step, early, extensions)
                    return early
            snap = self.snapshot(outcome, s.window_seconds)
            step.canary, step.champion = stats_dict(snap.canary), stats_dict(snap.champion)
            decision = judge_window(snap, baseline, extensions, t)
            if self._concluded(outcome, step, "judgement", decision, extensions):
                return decision
            extensions += 1

    def _concluded(
        self,
        outcome: RolloutOutcome,
        step: StepRecord,
        kind: str,
        decision: Decision,
        extensions: int,
    ) -> bool:
        """A window's end: keep and record its judgement; True unless it extends the step."""
        _keep(step, kind, decision)
        self._judged(outcome, step, decision, extensions)
        if decision.action is Action.ROLLBACK:
            outcome.breach_detected_at = time.time()
        return decision.action is not Action.EXTEND

    def _judged(
        self, outcome: RolloutOutcome, step: StepRecord, decision: Decision, extensions: int
    ) -> None:
        step.decision, step.reason, step.extensions = (
            decision.action.value,
            decision.reason,
            extensions,
        )
        step.outcome = decision.outcome.value if decision.outcome else ""
        step.measurements = [m.to_dict() for m in decision.measurements]
        self.record.step_judged(outcome, step)

    def _finish(self, outcome: RolloutOutcome) -> RolloutOutcome:
        outcome.finished_at = time.time()
        if outcome.decision != PROMOTION_PENDING:
            try:
                self._persist(outcome, phase=outcome.decision, reason=outcome.reason)
            except Exception as exc:  # the rollback is done; a stale "running" only repeats it
                log.warning("rollout state not marked %s: %s", outcome.decision, exc)
        self.record.finished(outcome)
        return outcome

    def _roll_back(self, outcome: RolloutOutcome, decision: Decision) -> RolloutOutcome:
        self.router.rollback()
        outcome.rollback_done_at = time.time()
        outcome.decision = ABORTED if decision.breaches == ("abort",) else ROLLED_BACK
        outcome.reason = decision.reason
        outcome.champion_after = outcome.champion_before
        return self._finish(outcome)

    def _promote(self, outcome: RolloutOutcome, canary: ModelVersion) -> RolloutOutcome:
        reason = f"canary analysis passed at {', '.join(f'{p}%' for p in self.settings.steps)}"
        self._persist(outcome, phase="promoting", traffic=100, done=[])
        try:
            outcome.gitops = run_stages(
                STAGES, canary, reason, self.state, self.store, self.router, self.registry,
                self.git, self.retry,
            )  # fmt: skip
        except StageFailed as failed:
            cause = failed.cause
            if failed.stage == "backend":
                # Nothing else moved: undo the backend and keep the champion.
                self._roll_back(
                    outcome,
                    Decision(
                        Action.ROLLBACK,
                        f"promotion failed at the backend ({type(cause).__name__}: {cause}); "
                        "rolled back, champion unchanged",
                        ("promotion",),
                    ),
                )
                raise PromotionFailed(f"{canary.name}: {outcome.reason}") from cause
            error = PromotionIncomplete(canary.name, failed.stage, cause)
            outcome.decision, outcome.reason = PROMOTION_PENDING, str(error)
            outcome.champion_after = canary.version if failed.stage == "git" else ""
            if failed.stage == "git":
                outcome.gitops = {"kind": "error", "error": str(cause)}
            self._persist(outcome, reason=str(error))
            self._finish(outcome)
            raise error from cause
        outcome.decision, outcome.reason = PROMOTED, reason
        outcome.champion_after = canary.version
        self.record.promoted(outcome, canary)
        return self._finish(outcome)


def _keep(step: StepRecord, kind: str, decision: Decision) -> None:
    """Keep one check's measurements in the step's record (every check, not just the last)."""
    step.checks.append(
        {
            "at": round(time.time(), 3),
            "kind": kind,
            "outcome": decision.outcome.value if decision.outcome else None,
            "measurements": [m.to_dict() for m in decision.measurements],
        }
    )


def _shadow_dict(stats: ShadowStats) -> dict[str, float | None]:
    fields = {"agree": stats.agree, "disagree": stats.disagree, "error": stats.error,
              "dropped": stats.dropped, "agreement": stats.agreement}  # fmt: skip
    return {k: None if v != v else round(v, 4) for k, v in fields.items()}  # NaN: no data


def _shadow_reason(decision: Decision) -> Decision:
    # The rollout's reason says the phase: "shadow: ..." tells a rollback in shadow (the
    # challenger never served) from one in a step.
    if decision.reason.startswith("shadow"):
        return decision
    return dataclasses.replace(decision, reason=f"shadow: {decision.reason}")


def stats_step(step: StepRecord) -> dict[str, object]:
    return dict(vars(step))
