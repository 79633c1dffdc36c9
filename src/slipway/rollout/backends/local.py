"""The rollout's local backend: model servers behind the weighted router, on loopback.

Layout in the local stack (stack.json names): ``model-champion`` and, during a rollout,
``model-canary`` (each a ``slipway serve`` process, i.e. KServe's ModelServer), and
``router`` (slipway.local.router) in front of them; each is a Prometheus scrape target.
Clients call the router; the router's table is the traffic split.

The shadow phase: the canary's server runs at weight 0 and the router mirrors a share of the
live requests to it (``PUT /-/shadow``); the canary steps then reuse that server.

A server leaves only after the router has taken it out of the table and its in-flight
requests have finished, so no request is dropped by a promotion or a rollback.

``LocalBackend`` is a whole ``slipway.rollout.ports.RolloutBackend``: traffic router, abort
signal (``AbortFile``, a file in the state folder), decision record (an append-only
.jsonl there) and a rollback from the stack's records. It never imports slipway.local:
what it needs of the stack is ``LocalServices``, which ``slipway.local.stack.LocalStack``
implements (the composition root, slipway.runtime, hands it over).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import httpx

from slipway.config import fault_injection_config
from slipway.config.rollout import ShadowSettings
from slipway.errors import StackError
from slipway.registry.model_version import ModelVersion
from slipway.rollout.state import STATE_FILE, FileStateStore
from slipway.state_files import write_json

log = logging.getLogger(__name__)

CHAMPION, CANARY, ROUTER = "model-champion", "model-canary", "router"
ABORT_FILE = "rollout.abort"
DECISIONS_FILE = "rollout-decisions.jsonl"
CANARY_CONFIG = "canary-config.json"  # the canary server's own config, when it injects faults
FAULT_PREFIX = "SLIPWAY_SERVING__FAULT_"


class RunningService(Protocol):
    """One server of the local stack."""

    @property
    def name(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def url(self) -> str: ...
    def stop(self) -> None: ...


class LocalServices(Protocol):
    """What the local backend needs from the local stack."""

    @property
    def state_dir(self) -> Path: ...

    def services(self) -> Mapping[str, RunningService]:
        """The running services, by name."""

    def free_port(self) -> int:
        """A free loopback port."""

    def start_service(
        self,
        name: str,
        command: list[str],
        *,
        port: int,
        health_path: str,
        env: dict[str, str] | None = None,
        timeout: float = 90.0,
    ) -> RunningService:
        """Start ``command``, wait until its health URL answers, record it as ``name``."""

    def remove(self, name: str) -> RunningService | None:
        """Forget a service (and its scrape target); the caller stops it."""

    def rename(self, old: str, new: str) -> None: ...

    def register_target(self, name: str, port: int) -> None:
        """Have Prometheus scrape ``127.0.0.1:port/metrics``."""

    def unregister_target(self, name: str) -> None: ...


class AbortFile:
    """The abort signal on the local stack: a file in the state folder."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def requested(self) -> bool:
        return self.path.exists()

    def request(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(str(time.time()), encoding="utf-8")

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


def server_command(target: ModelVersion, port: int, config: Path | None) -> list[str]:
    if target.model_dir is None:
        raise StackError(f"no local copy of {target.name} version {target.version}")
    command = [
        sys.executable, "-m", "slipway.serving",
        "--model-dir", str(target.model_dir),
        "--model-name", target.name,
        "--model-version", target.version,
        "--run-id", target.run_id,
        "--http-port", str(port),
        "--host", "127.0.0.1",
    ]  # fmt: skip
    if config is not None:
        command += ["--config", str(config)]
    return command


class LocalBackend:
    def __init__(
        self,
        stack: LocalServices,
        config: Path | None = None,
        canary_env: dict[str, str] | None = None,
        drain_timeout: float = 30.0,
        start_timeout: float = 120.0,
        model_cache_dir: Path | None = None,
    ) -> None:
        self.stack = stack
        self.config = config
        self._model_cache_dir = model_cache_dir or stack.state_dir / "models"
        self._abort = AbortFile(stack.state_dir / ABORT_FILE)
        self._state = FileStateStore(stack.state_dir / STATE_FILE)
        self.canary_env = dict(canary_env or {})
        self.drain_timeout = drain_timeout
        self.start_timeout = start_timeout
        self._http = httpx.Client(timeout=10.0)
        self.champion: ModelVersion | None = None
        self.canary: ModelVersion | None = None

    # ------------------------------------------------------------------ processes

    def _service(self, name: str) -> RunningService | None:
        return self.stack.services().get(name)

    def _canary_launch(self) -> tuple[Path | None, dict[str, str]]:
        """The canary server's config and environment. Faults asked for (``canary_env``'s
        SLIPWAY_SERVING__FAULT_* variables, from ``rollout start --fault-*``) go into a config
        file of the canary's own: the environment cannot turn faults on (slipway.config)."""
        faults = {k: v for k, v in self.canary_env.items() if k.startswith(FAULT_PREFIX)}
        env = {k: v for k, v in self.canary_env.items() if k not in faults}
        if not faults:
            return self.config, env
        data = fault_injection_config(
            self.config,
            float(faults.get(f"{FAULT_PREFIX}ERROR_RATE", 0)),
            float(faults.get(f"{FAULT_PREFIX}LATENCY_MS", 0)),
        )
        path = self.stack.state_dir / CANARY_CONFIG
        write_json(path, data)
        return path, env

    def _start_server(
        self,
        role: str,
        target: ModelVersion,
        env: dict[str, str],
        config: Path | None = None,
    ) -> RunningService:
        port = self.stack.free_port()
        managed = self.stack.start_service(
            role,
            server_command(target, port, config or self.config),
            port=port,
            health_path=f"/v2/models/{target.name}/ready",
            env=env,
            timeout=self.start_timeout,
        )
        self.stack.register_target(role, port)
        return managed

    def _served_version(self, service: RunningService) -> str | None:
        try:
            response = self._http.get(f"{service.url}/v2/models/{self._name()}")
            versions = response.json().get("versions") or [None]
            return str(versions[0]) if versions[0] is not None else None
        except (httpx.HTTPError, ValueError):
            return None

    def _name(self) -> str:
        target = self.champion or self.canary
        return target.name if target else ""

    def router_url(self) -> str:
        router = self._service(ROUTER)
        if router is None:
            raise StackError("the local router is not running")
        return router.url

    def ensure_serving(self, champion: ModelVersion) -> str:
        """Champion server and router up (started when missing); the router's URL."""
        self.champion = champion
        server = self._service(CHAMPION)
        if server is not None and self._served_version(server) != champion.version:
            self._stop(CHAMPION)
            server = None
        if server is None:
            server = self._start_server(CHAMPION, champion, {})
        router = self._service(ROUTER)
        if router is None:
            port = self.stack.free_port()
            router = self.stack.start_service(
                ROUTER,
                [sys.executable, "-m", "slipway.local.router", "--port", str(port)],
                port=port,
                health_path="/-/router/health",
                timeout=self.start_timeout,
            )
            self.stack.register_target(ROUTER, port)
        self._put([(CHAMPION, server, champion.version, 100)])
        return router.url

    def _put(self, entries: list[tuple[str, RunningService, str, int]]) -> None:
        """The router's table: (role, server, model version, weight) per backend."""
        backends = [
            {"name": role, "url": svc.url, "weight": weight, "model_version": version}
            for role, svc, version, weight in entries
        ]
        response = self._http.put(f"{self.router_url()}/-/router", json={"backends": backends})
        if response.status_code != 200:
            raise StackError(f"router refused the backends: {response.text}")

    def router_state(self) -> dict[str, Any]:
        state: dict[str, Any] = self._http.get(f"{self.router_url()}/-/router").json()
        return state

    def _drain(self, url: str) -> None:
        deadline = time.monotonic() + self.drain_timeout
        while time.monotonic() < deadline:
            if not self.router_state()["inflight"].get(url):
                return
            time.sleep(0.05)
        log.warning("requests still in flight to %s after %.0fs", url, self.drain_timeout)

    def _stop(self, role: str) -> None:
        service = self.stack.remove(role)
        if service is not None:
            service.stop()

    def _require(self, role: str) -> RunningService:
        service = self._service(role)
        if service is None:
            raise StackError(f"{role} is not running")
        return service

    # ------------------------------------------------------------------ Backend

    def _start_canary(self, canary: ModelVersion, champion: ModelVersion) -> None:
        self.ensure_serving(champion)
        if self._service(CANARY) is not None:
            self._stop(CANARY)  # left over from an interrupted rollout
        self.canary = canary
        config, env = self._canary_launch()
        self._start_server(CANARY, canary, env, config)

    def deploy_canary(self, canary: ModelVersion, champion: ModelVersion, percent: int) -> None:
        shadowed = self.canary is not None and self.canary.version == canary.version
        if not (shadowed and self._service(CANARY) is not None):
            self._start_canary(canary, champion)  # else: the shadow phase's server serves on
        self.set_canary_traffic(percent)

    def start_shadow(
        self, canary: ModelVersion, champion: ModelVersion, settings: ShadowSettings
    ) -> None:
        self._start_canary(canary, champion)
        self.set_canary_traffic(0)  # in the table, so its in-flight copies are drained too
        self._put_shadow(
            {
                "url": self._require(CANARY).url,
                "model_name": canary.name,
                "model_version": canary.version,
                "percent": float(settings.percent),
                "score_tolerance": float(settings.score_tolerance),
                "max_inflight": settings.max_inflight,
                "timeout_seconds": float(settings.timeout_seconds),
            }
        )

    def stop_shadow(self) -> None:
        self._put_shadow({"url": None})

    def _put_shadow(self, body: dict[str, Any]) -> None:
        response = self._http.put(f"{self.router_url()}/-/shadow", json=body)
        if response.status_code != 200:
            raise StackError(f"router refused the shadow target: {response.text}")

    def shadow_state(self) -> dict[str, Any]:
        state: dict[str, Any] = self._http.get(f"{self.router_url()}/-/shadow").json()
        return state

    def set_canary_traffic(self, percent: int) -> None:
        assert self.champion is not None
        assert self.canary is not None
        self._put(
            [
                (CHAMPION, self._require(CHAMPION), self.champion.version, 100 - percent),
                (CANARY, self._require(CANARY), self.canary.version, percent),
            ]
        )

    def traffic(self) -> dict[str, int]:
        return {str(b["model_version"]): int(b["weight"]) for b in self.router_state()["backends"]}

    def promote(self) -> None:
        assert self.canary is not None
        canary, old = self._require(CANARY), self._require(CHAMPION)
        self._put([(CHAMPION, canary, self.canary.version, 100)])
        self._drain(old.url)
        self._stop(CHAMPION)
        self.stack.unregister_target(CANARY)
        self.stack.rename(CANARY, CHAMPION)
        self.stack.register_target(CHAMPION, canary.port)
        self.champion, self.canary = self.canary, None

    def rollback(self) -> None:
        assert self.champion is not None
        champion = self._require(CHAMPION)
        self._put([(CHAMPION, champion, self.champion.version, 100)])
        self.stop_shadow()  # a rollback from the shadow phase: no copy may follow the canary
        canary = self._service(CANARY)
        if canary is not None:
            self._drain(canary.url)
            self._stop(CANARY)
        self.canary = None

    def record_decision(self, record: dict[str, Any]) -> None:
        # The local stand-in for the InferenceService annotation: an append-only log.
        path = self.stack.state_dir / DECISIONS_FILE
        with path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(record, sort_keys=True) + "\n")

    def roll_back_from_records(self) -> str:
        """Champion alone behind the router, canary stopped, from the stack's records
        (stack.json and the router's table), not from this object's memory."""
        canary = self._service(CANARY)
        champion = self._service(CHAMPION)
        if champion is None:
            raise StackError("no champion server is running; nothing to roll back to")
        version = next(
            (
                str(b["model_version"])
                for b in self.router_state()["backends"]
                if b["name"] == CHAMPION
            ),
            "unknown",
        )
        self._put([(CHAMPION, champion, version, 100)])
        self.stop_shadow()
        if canary is not None:
            self._drain(canary.url)
            self._stop(CANARY)
        self.canary = None
        return "canary removed; the champion takes all traffic"

    @property
    def abort(self) -> AbortFile:
        return self._abort

    @property
    def state(self) -> FileStateStore:
        return self._state

    def serves_only(self, version: str) -> bool:
        if self._service(CANARY) is not None or self._service(ROUTER) is None:
            return False
        try:
            backends = self.router_state()["backends"]
        except (httpx.HTTPError, ValueError, KeyError):
            return False
        return [(str(b["model_version"]), int(b["weight"])) for b in backends] == [(version, 100)]

    def model_cache_dir(self) -> Path | None:
        return self._model_cache_dir

    def close(self) -> None:
        self._http.close()
