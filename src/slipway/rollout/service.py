"""``slipway rollout start|status|abort|recover``: the controller wired from a ``Runtime``.

Wiring only: the runtime chooses and builds the backend (``Runtime.rollout_backend``) and
the metric source; this module resolves the versions, assembles the recorders and runs
the controller, or reads the records for ``status`` and ``abort``.

Crash safety: before a rollout starts, and in ``roll_back_unfinished`` (``slipway rollout
recover``, the workflow's exit handler), an unfinished rollout left in the backend's
durable state is rolled back or its promotion finished (slipway.rollout.state says which
and why). While the controller runs, SIGTERM rolls back (slipway.rollout.signals).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from slipway.errors import RolloutError
from slipway.registry import aliases
from slipway.rollout.controller import RolloutController, RolloutOutcome
from slipway.rollout.gitops import GitOpsRecorder
from slipway.rollout.history import LOAD, HistoryTags
from slipway.rollout.load import LoadCounts, LoadGenerator, load_for
from slipway.rollout.model_registry import MlflowChampion, MlflowTags, target_for
from slipway.rollout.outcome import PROMOTED, ROLLED_BACK, RUNNING, StepRecord
from slipway.rollout.promotion import PromotionIncomplete, StageFailed, retrying, run_stages
from slipway.rollout.records import EVENTS_LOGGER, BackendDecision, EventLog, Recorders, StateFile
from slipway.rollout.signals import terminate_rolls_back
from slipway.rollout.state import Action, RolloutState, recovery_plan

if TYPE_CHECKING:
    from slipway.config import Settings
    from slipway.rollout.ports import Recorder, RolloutBackend
    from slipway.runtime import Runtime

log = logging.getLogger(__name__)

STATE_FILE = "rollout.json"


def ensure_event_log() -> None:
    """Decision lines reach stderr even when the CLI's log level hides INFO."""
    events = logging.getLogger(EVENTS_LOGGER)
    if not events.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        events.addHandler(handler)
        events.setLevel(logging.INFO)
        events.propagate = False


def _recorders(
    runtime: Runtime, backend: RolloutBackend, progress: Sequence[Recorder] = ()
) -> list[Recorder]:
    # Progress first: its live line on a terminal is ended before the others write.
    recorders: list[Recorder] = [*progress, EventLog(), BackendDecision(backend)]
    try:
        client = runtime.mlflow
        recorders += [MlflowTags(client), HistoryTags(client)]
    except Exception as exc:  # a record: MLflow out of reach must not stop a rollback
        log.warning("no MLflow tags for this rollout: %s", exc)
    recorders.append(StateFile(runtime.state_dir / STATE_FILE, backend.traffic))
    return recorders


@dataclass
class Recovery:
    message: str
    outcome: RolloutOutcome | None = None  # the rollout it finished, if it acted


def _outcome_of(state: RolloutState) -> RolloutOutcome:
    outcome = RolloutOutcome(state.model, state.version, state.champion)
    outcome.started_at = state.started_at
    outcome.pid = state.owner.pid
    fields = set(StepRecord.__dataclass_fields__)
    outcome.steps = [
        StepRecord(**{k: v for k, v in step.items() if k in fields})  # type: ignore[arg-type]
        for step in state.steps
    ]
    return outcome


def _owner_alive(runtime: Runtime, state: RolloutState | None) -> bool:
    if state is None or state.owner.host != socket.gethostname():
        return False  # another pod's or machine's: gone, or not ours to judge
    return state.owner.pid != os.getpid() and runtime.process_alive(state.owner.pid)


def recover(runtime: Runtime, backend: RolloutBackend) -> Recovery:
    """Act on an unfinished rollout in ``backend``'s durable state (see
    slipway.rollout.state for why: roll back a canary still analysed, finish a promotion
    whose backend stage went through)."""
    store = backend.state
    state = store.load()
    model = runtime.settings.tracking.model_name
    if (
        state is not None
        and state.phase == "promoting"
        and "backend" not in state.done
        and backend.serves_only(state.version)
    ):
        state.done.append("backend")  # it went through; the write saying so did not
    action, remaining = recovery_plan(state, _owner_alive(runtime, state))
    if action is Action.NOTHING or state is None:
        if state is None:
            return Recovery(f"no rollout of {model} in flight ({store.where} is empty)")
        return Recovery(
            f"no rollout of {model} in flight: the last (version {state.version}) "
            f"ended {state.phase}"
        )
    if action is Action.RUNNING_ELSEWHERE:
        raise RolloutError(
            f"a rollout of {model} version {state.version} is running (pid {state.owner.pid} "
            "on this machine); `slipway rollout abort` stops it"
        )
    outcome = _outcome_of(state)
    record = Recorders(_recorders(runtime, backend))
    left = (
        f"the rollout of version {state.version} was left {state.phase} at "
        f"{state.traffic}% by pid {state.owner.pid} on {state.owner.host}"
    )
    if action is Action.ROLL_BACK:
        if backend.serves_only(state.champion):
            what = "the canary was not serving"  # never deployed, or already rolled back
        else:
            what = backend.roll_back_from_records()
        outcome.decision = ROLLED_BACK
        outcome.reason = f"recovered: {left}; rolled back ({what}), champion unchanged"
        outcome.champion_after = state.champion
        outcome.rollback_done_at = outcome.finished_at = time.time()
        state.phase, state.reason, state.traffic = "rolled_back", outcome.reason, 0
        store.save(state)
        record.finished(outcome)
        return Recovery(outcome.reason, outcome)
    canary = state.canary.model_version()
    reason = f"recovered: {left}; promotion finished ({', '.join(remaining)})"
    try:
        outcome.gitops = run_stages(
            remaining, canary, reason, state, store, None, MlflowChampion(runtime.mlflow),
            GitOpsRecorder(runtime.settings.rollout.gitops), retrying(runtime.settings.rollout),
        )  # fmt: skip
    except StageFailed as failed:
        raise PromotionIncomplete(model, failed.stage, failed.cause) from failed.cause
    outcome.decision, outcome.reason = PROMOTED, reason
    outcome.champion_after = state.version
    outcome.finished_at = time.time()
    state.phase, state.reason = "promoted", reason
    store.save(state)
    record.finished(outcome)
    return Recovery(reason, outcome)


def _for_model(settings: Settings, model: str) -> Settings:
    if model == settings.tracking.model_name:
        return settings
    rollout = settings.rollout
    return settings.model_copy(
        update={
            "tracking": settings.tracking.model_copy(update={"model_name": model}),
            # A configured InferenceService name is the configured model's.
            "rollout": rollout.model_copy(
                update={"kserve": rollout.kserve.model_copy(update={"inference_service": None})}
            ),
        }
    )


def roll_back_unfinished(settings: Settings, model: str) -> str:
    """Roll back ``model``'s rollout if one was left unfinished (its controller killed,
    evicted, OOM-killed), or finish its promotion if that had begun; a sentence saying what
    was done (a no-op, said so, when nothing is in flight). For the workflow's exit
    handler; the local state folder is ``SLIPWAY_HOME``'s."""
    from slipway.runtime import Runtime

    return recover_model(Runtime(settings), model)


def recover_model(runtime: Runtime, model: str) -> str:
    """``roll_back_unfinished`` with this runtime's state folder (``slipway rollout
    recover``)."""
    from slipway.runtime import Runtime

    ensure_event_log()
    if model != runtime.settings.tracking.model_name:
        runtime = Runtime(_for_model(runtime.settings, model), runtime.state_dir)
    backend = runtime.rollout_backend()
    try:
        return recover(runtime, backend).message
    finally:
        backend.close()


def _load(
    runtime: Runtime, url: str | None, champion_version: str, traffic: float
) -> LoadGenerator | None:
    """The load step the settings (or ``--traffic``, contract rows at that rate) ask for."""
    from slipway.data.contract import load_contract

    settings = runtime.settings
    load = settings.rollout.load
    if traffic > 0:
        load = load.model_copy(update={"enabled": True, "rate": traffic, "source": "contract"})
    if not load.enabled:
        return None
    payloads_root = settings.monitoring.payloads.directory or runtime.state_dir / "payloads"
    generator = load_for(
        load,
        url,
        settings.tracking.model_name,
        load_contract(settings.data.contract),
        payloads_root,
        champion_version,
    )
    logging.getLogger(EVENTS_LOGGER).info(
        f"load: {load.rate:g} requests/s, {load.clients} clients, rows from {load.source}, "
        + (f"for {load.duration_seconds:g} s" if load.duration_seconds else "for the rollout")
    )
    return generator


def _report_load(client: Any, model: str, version: str, counts: LoadCounts) -> None:
    """The load step's counts to the event log, and to the version's tags for
    ``slipway rollout history``; an MLflow that cannot take the tag loses only that."""
    from mlflow.exceptions import MlflowException

    logging.getLogger(EVENTS_LOGGER).info(
        f"load: sent {counts.sent}, ok {counts.ok}, errors {counts.errors}"
    )
    record = {"sent": counts.sent, "ok": counts.ok, "errors": counts.errors,
              "statuses": counts.statuses}  # fmt: skip
    try:
        client.set_model_version_tag(model, version, LOAD, json.dumps(record, sort_keys=True))
    except (MlflowException, OSError) as exc:
        log.warning("the load counts were not recorded on %s version %s: %s", model, version, exc)


def start_rollout(
    runtime: Runtime,
    version: str | None,
    fault_error_rate: float = 0.0,
    fault_latency_ms: float = 0.0,
    traffic: float = 0.0,
    on_load: Callable[[LoadCounts], None] | None = None,
    progress: Sequence[Recorder] = (),
) -> RolloutOutcome:
    """Run the rollout of ``version`` (default: the challenger) to its decision. With
    ``rollout.load.enabled`` (or ``traffic``, requests per second through the router) the
    load step runs for the rollout's length at most; its counts go to the event log and
    to ``on_load``."""
    ensure_event_log()
    settings = runtime.settings
    name = settings.tracking.model_name
    env = {}
    if fault_error_rate:
        env["SLIPWAY_SERVING__FAULT_ERROR_RATE"] = str(fault_error_rate)
    if fault_latency_ms:
        env["SLIPWAY_SERVING__FAULT_LATENCY_MS"] = str(fault_latency_ms)
    backend = runtime.rollout_backend(env)
    try:
        # A rollout a killed controller left: rolled back, or its promotion finished (a
        # rerun of the same rollout, as the workflow's retry, then ends there).
        recovery = recover(runtime, backend)
        if recovery.outcome is not None:
            logging.getLogger(EVENTS_LOGGER).info(recovery.message)
            done = recovery.outcome
            if done.decision == PROMOTED and version in (None, done.version):
                return done
        client = runtime.mlflow
        champion_mv = aliases.version_by_alias(client, name, aliases.CHAMPION)
        if champion_mv is None:
            raise RolloutError(f"{name} has no champion: nothing to compare a canary with")
        canary_alias = None
        if version is None:
            challenger = aliases.version_by_alias(client, name, aliases.CHALLENGER)
            if challenger is None:
                raise RolloutError(f"{name} has no challenger; pass --version")
            version, canary_alias = str(challenger.version), aliases.CHALLENGER
        if version == str(champion_mv.version):
            raise RolloutError(f"version {version} is already the champion")
        cache = backend.model_cache_dir()
        destination = runtime.artifacts_destination()  # s3:// storage URIs for KServe
        champion = target_for(
            client, name, str(champion_mv.version), cache, aliases.CHAMPION, destination
        )
        canary = target_for(client, name, version, cache, canary_alias, destination)
        backend.abort.clear()
        metrics = runtime.rollout_metrics()
        controller = RolloutController(
            settings.rollout,
            backend,
            metrics,
            backend.abort,
            MlflowChampion(client),
            recorders=_recorders(runtime, backend, progress),
            store=backend.state,
            git=GitOpsRecorder(settings.rollout.gitops),
        )
        try:
            url = backend.ensure_serving(champion)
            if url is not None:
                logging.getLogger(EVENTS_LOGGER).info(
                    f"router: {url}  (send requests here; the canary gets its share)"
                )
            if traffic > 0 and url is None:
                raise RolloutError("--traffic is for the local backend only")
            load = _load(runtime, url, str(champion_mv.version), traffic)
            try:
                with load or nullcontext(), terminate_rolls_back():
                    return controller.run(canary, champion)
            finally:
                if load is not None:
                    counts = load.stop()
                    _report_load(client, name, version, counts)
                    if on_load is not None:
                        on_load(counts)
        finally:
            metrics.close()
    finally:
        backend.close()


def _running(runtime: Runtime, state: dict[str, Any] | None) -> bool:
    return (
        state is not None
        and state.get("decision") == RUNNING
        and runtime.process_alive(int(state["pid"]))
    )


def rollout_status(runtime: Runtime) -> dict[str, Any]:
    state = StateFile(runtime.state_dir / STATE_FILE).read()
    if state is None:
        return {"rollout": None, "message": "no rollout has run here"}
    try:
        backend = runtime.rollout_backend()
        try:
            state["traffic_now"] = backend.traffic()
            durable = backend.state.load()
            state["durable_state"] = durable.model_dump(mode="json") if durable else None
        finally:
            backend.close()
    except Exception as exc:  # status is best effort: show what is known, say what is not
        state.setdefault("traffic_now", f"unavailable: {exc}")
        state["durable_state"] = f"unavailable: {exc}"
    if state.get("decision") == RUNNING and not runtime.process_alive(int(state["pid"])):
        state["decision"] = "interrupted"
    return state


def abort_rollout(runtime: Runtime, wait: float) -> str:
    state_file = StateFile(runtime.state_dir / STATE_FILE)
    state = state_file.read()
    backend = runtime.rollout_backend()
    try:
        # The mark first, always: it lives on the platform (an InferenceService annotation,
        # the stack's abort file), so a controller running anywhere sees it at its next
        # check, even when this machine has no state file naming it.
        backend.abort.request()
        if _running(runtime, state):
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                current = state_file.read() or {}
                if current.get("decision") not in (None, RUNNING):
                    return f"rollout {current['decision']}: {current.get('reason', '')}"
                time.sleep(0.5)
        # Nobody is running the rollout (or it did not answer): roll back from here, and
        # say so in the durable state, so that no later recovery acts on it again.
        done = backend.roll_back_from_records()
        durable = backend.state.load()
        if durable is not None and durable.phase == "running":
            durable.phase, durable.reason, durable.traffic = "aborted", "aborted by request", 0
            backend.state.save(durable)
        return done
    finally:
        backend.close()
