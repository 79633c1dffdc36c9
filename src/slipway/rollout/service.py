"""``slipway rollout start|status|abort``: the controller wired from a ``Runtime``.

Wiring only: the runtime chooses and builds the backend (``Runtime.rollout_backend``) and
the metric source; this module resolves the versions, assembles the recorders and runs
the controller, or reads the records for ``status`` and ``abort``.
"""

from __future__ import annotations

import logging
import sys
import time
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any

from slipway.errors import RolloutError
from slipway.registry import aliases
from slipway.rollout.controller import RolloutController, RolloutOutcome
from slipway.rollout.demo_traffic import DemoTraffic
from slipway.rollout.gitops import GitOpsRecorder
from slipway.rollout.model_registry import MlflowChampion, MlflowTags, target_for
from slipway.rollout.outcome import RUNNING
from slipway.rollout.records import EVENTS_LOGGER, BackendDecision, EventLog, StateFile

if TYPE_CHECKING:
    from slipway.runtime import Runtime

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


def start_rollout(
    runtime: Runtime,
    version: str | None,
    fault_error_rate: float = 0.0,
    fault_latency_ms: float = 0.0,
    traffic: float = 0.0,
) -> RolloutOutcome:
    ensure_event_log()
    settings, client = runtime.settings, runtime.mlflow
    name = settings.tracking.model_name
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
    env = {}
    if fault_error_rate:
        env["SLIPWAY_SERVING__FAULT_ERROR_RATE"] = str(fault_error_rate)
    if fault_latency_ms:
        env["SLIPWAY_SERVING__FAULT_LATENCY_MS"] = str(fault_latency_ms)
    backend = runtime.rollout_backend(env)
    try:
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
            recorders=[
                # In this order: the GitOps record first, so that the others carry it.
                GitOpsRecorder(settings.rollout.gitops),
                EventLog(),
                BackendDecision(backend),
                MlflowTags(client),
                StateFile(runtime.state_dir / STATE_FILE, backend.traffic),
            ],
        )
        try:
            url = backend.ensure_serving(champion)
            if url is not None:
                logging.getLogger(EVENTS_LOGGER).info(
                    f"router: {url}  (send requests here; the canary gets its share)"
                )
            if traffic > 0 and url is None:
                raise RolloutError("--traffic is for the local backend only")
            load = DemoTraffic(url, name, traffic) if url and traffic > 0 else nullcontext()
            with load:
                return controller.run(canary, champion)
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
        finally:
            backend.close()
    except Exception as exc:  # status is best effort: show what is known, say what is not
        state["traffic_now"] = f"unavailable: {exc}"
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
        # Nobody is running the rollout (or it did not answer): roll back from here.
        return backend.roll_back_from_records()
    finally:
        backend.close()
