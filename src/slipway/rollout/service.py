"""``slipway rollout start|status|abort``: the controller wired from configuration."""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from pathlib import Path
from typing import Any

from slipway.errors import RolloutError, StackError
from slipway.local.processes import Managed
from slipway.registry import aliases
from slipway.rollout.backends.kserve import KServeBackend
from slipway.rollout.backends.local import CANARY, CHAMPION, LocalBackend
from slipway.rollout.controller import RolloutController, RolloutOutcome, StateFile
from slipway.rollout.gitops import GitOpsRecorder
from slipway.rollout.ports import Backend, ModelTarget
from slipway.rollout.prometheus import PrometheusClient
from slipway.runtime import Runtime

STATE_FILE = "rollout.json"


def target_for(client: Any, name: str, version: str, cache_dir: Path | None) -> ModelTarget:
    """A registered version as a serving target; downloaded into ``cache_dir`` if given."""
    from mlflow.exceptions import MlflowException

    try:
        mv = client.get_model_version(name, version)
        storage_uri = str(client.get_model_version_download_uri(name, version))
    except MlflowException as exc:
        raise RolloutError(f"{name} version {version}: {exc.message}") from exc
    run_id = str((mv.tags or {}).get("slipway.run_id") or mv.run_id or "unknown")
    model_dir = None
    if cache_dir is not None:
        from slipway.serving.server import from_registry

        model_dir = from_registry(f"models:/{name}/{version}", cache_dir, client).model_dir
    return ModelTarget(name, str(version), run_id, storage_uri, model_dir)


def ensure_event_log() -> None:
    """Decision lines reach stderr even when the CLI's log level hides INFO."""
    events = logging.getLogger("slipway.rollout.events")
    if not events.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        events.addHandler(handler)
        events.setLevel(logging.INFO)
        events.propagate = False


def make_backend(runtime: Runtime, canary_env: dict[str, str] | None = None) -> Backend:
    settings = runtime.settings
    r = settings.rollout
    if r.backend == "kserve":
        k = r.kserve
        return KServeBackend(
            k.inference_service or settings.tracking.model_name,
            k.namespace,
            ready_timeout=k.ready_timeout_seconds,
            kubeconfig=k.kubeconfig,
            context=k.context,
        )
    return LocalBackend(runtime.stack, runtime.config_path, canary_env)


class DemoTraffic:
    """Synthetic requests through the local router while a rollout runs (``--traffic``):
    without clients a canary gets no requests and cannot be judged. Loopback only, at
    most ``rate`` requests per second, stopped with the rollout."""

    def __init__(self, url: str, model: str, rate: float) -> None:
        import threading

        self.url = f"{url}/v1/models/{model}:predict"
        self.rate = rate
        self.stop = threading.Event()
        self.sent = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import httpx

        from slipway.data import synthetic

        frame = synthetic.generate(500, seed=12345)
        rows = frame.drop(columns=["churned"]).to_dict("records")
        with httpx.Client(timeout=30) as http:
            while not self.stop.is_set():
                # A failed request is the canary's or the router's business, not the sender's.
                with contextlib.suppress(httpx.HTTPError):
                    http.post(self.url, json={"instances": [rows[self.sent % len(rows)]]})
                self.sent += 1
                self.stop.wait(1.0 / self.rate)

    def __enter__(self) -> DemoTraffic:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=30)


def start_rollout(
    runtime: Runtime,
    version: str | None,
    fault_error_rate: float = 0.0,
    fault_latency_ms: float = 0.0,
    traffic: float = 0.0,
) -> RolloutOutcome:
    ensure_event_log()
    settings, stack, client = runtime.settings, runtime.stack, runtime.mlflow
    name = settings.tracking.model_name
    champion_mv = aliases.version_by_alias(client, name, aliases.CHAMPION)
    if champion_mv is None:
        raise RolloutError(f"{name} has no champion: nothing to compare a canary with")
    if version is None:
        challenger = aliases.version_by_alias(client, name, aliases.CHALLENGER)
        if challenger is None:
            raise RolloutError(f"{name} has no challenger; pass --version")
        version = str(challenger.version)
    if version == str(champion_mv.version):
        raise RolloutError(f"version {version} is already the champion")
    local = settings.rollout.backend == "local"
    cache = runtime.model_cache_dir if local else None
    champion = target_for(client, name, str(champion_mv.version), cache)
    canary = target_for(client, name, version, cache)
    env = {}
    if fault_error_rate:
        env["SLIPWAY_SERVING__FAULT_ERROR_RATE"] = str(fault_error_rate)
    if fault_latency_ms:
        env["SLIPWAY_SERVING__FAULT_LATENCY_MS"] = str(fault_latency_ms)
    backend = make_backend(runtime, env)
    if isinstance(backend, LocalBackend):
        backend.clear_abort()
    elif isinstance(backend, KServeBackend) and env:
        raise RolloutError("fault injection is for the local backend only")
    prometheus = PrometheusClient(runtime.prometheus_url())
    controller = RolloutController(
        settings.rollout,
        backend,
        prometheus,
        client,
        GitOpsRecorder(settings.rollout.gitops),
        StateFile(stack.state_dir / STATE_FILE),
    )
    events = logging.getLogger("slipway.rollout.events")
    try:
        if isinstance(backend, LocalBackend):
            url = backend.ensure_serving(champion)
            events.info(f"router: {url}  (send requests here; the canary gets its share)")
            if traffic > 0:
                with DemoTraffic(url, name, traffic):
                    return controller.run(canary, champion)
        elif traffic > 0:
            raise RolloutError("--traffic is for the local backend only")
        return controller.run(canary, champion)
    finally:
        prometheus.close()


def rollout_status(runtime: Runtime) -> dict[str, Any]:
    state = StateFile(runtime.state_dir / STATE_FILE).read()
    if state is None:
        return {"rollout": None, "message": "no rollout has run here"}
    try:
        state["traffic_now"] = make_backend(runtime).traffic()
    except Exception as exc:  # status is best effort: show what is known, say what is not
        state["traffic_now"] = f"unavailable: {exc}"
    if (
        state.get("decision") == "running"
        and not Managed("rollout", state["pid"], 0, "", "", "").alive()
    ):
        state["decision"] = "interrupted"
    return state


def abort_rollout(runtime: Runtime, wait: float) -> str:
    state_file = StateFile(runtime.state_dir / STATE_FILE)
    state = state_file.read()
    backend = make_backend(runtime)
    running = (
        state is not None
        and state.get("decision") == "running"
        and Managed("rollout", state["pid"], 0, "", "", "").alive()
    )
    if running:
        if isinstance(backend, LocalBackend | KServeBackend):
            backend.request_abort()
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            current = state_file.read() or {}
            if current.get("decision") not in (None, "running"):
                return f"rollout {current['decision']}: {current.get('reason', '')}"
            time.sleep(0.5)
    # Nobody is running the rollout (or it did not answer): roll back from here.
    if isinstance(backend, LocalBackend):
        return backend_force_rollback(backend)
    if isinstance(backend, KServeBackend):
        backend.rollback()
        return "canary traffic set to 0 and the previous model restored"
    raise RolloutError("unknown backend")


def backend_force_rollback(backend: LocalBackend) -> str:
    """Champion alone behind the router, canary stopped, from the stack's records."""
    canary = backend.stack.services().get(CANARY)
    champion = backend.stack.services().get(CHAMPION)
    if champion is None:
        raise StackError("no champion server is running; nothing to roll back to")
    state = backend.router_state()
    version = next(
        (b["model_version"] for b in state["backends"] if b["name"] == CHAMPION), "unknown"
    )
    backend._put([(CHAMPION, champion, ModelTarget("", version, "", ""), 100)])
    if canary is not None:
        backend._drain(canary.url)
        backend._stop(CANARY)
    return "canary removed; the champion takes all traffic"
