"""The rollout's local backend: model servers behind the weighted router, on loopback.

Layout in the local stack (stack.json names): ``model-champion`` and, during a rollout,
``model-canary`` (each a ``slipway serve`` process, i.e. KServe's ModelServer), and
``router`` (slipway.local.router) in front of them; each is a Prometheus scrape target.
Clients call the router; the router's table is the traffic split.

A server leaves only after the router has taken it out of the table and its in-flight
requests have finished, so no request is dropped by a promotion or a rollback.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from slipway.errors import StackError
from slipway.local import processes
from slipway.local.processes import Managed, free_port
from slipway.local.stack import LocalStack
from slipway.rollout.ports import ModelTarget

log = logging.getLogger(__name__)

CHAMPION, CANARY, ROUTER = "model-champion", "model-canary", "router"
ABORT_FILE = "rollout.abort"
DECISIONS_FILE = "rollout-decisions.jsonl"


def server_command(target: ModelTarget, port: int, config: Path | None) -> list[str]:
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
        stack: LocalStack,
        config: Path | None = None,
        canary_env: dict[str, str] | None = None,
        drain_timeout: float = 30.0,
        start_timeout: float = 120.0,
    ) -> None:
        self.stack = stack
        self.config = config
        self.canary_env = dict(canary_env or {})
        self.drain_timeout = drain_timeout
        self.start_timeout = start_timeout
        self._http = httpx.Client(timeout=10.0)
        self.champion: ModelTarget | None = None
        self.canary: ModelTarget | None = None

    # ------------------------------------------------------------------ processes

    def _service(self, name: str) -> Managed | None:
        return self.stack.services().get(name)

    def _start_server(self, role: str, target: ModelTarget, env: dict[str, str]) -> Managed:
        port = free_port()
        managed = processes.start(
            role,
            server_command(target, port, self.config),
            port=port,
            health_path=f"/v2/models/{target.name}/ready",
            log_dir=self.stack.state_dir / "logs",
            env=env,
            timeout=self.start_timeout,
        )
        self.stack.add(managed)
        self.stack.register_target(role, port)
        return managed

    def _served_version(self, service: Managed) -> str | None:
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

    def ensure_serving(self, champion: ModelTarget) -> str:
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
            port = free_port()
            router = processes.start(
                ROUTER,
                [sys.executable, "-m", "slipway.local.router", "--port", str(port)],
                port=port,
                health_path="/-/router/health",
                log_dir=self.stack.state_dir / "logs",
                timeout=self.start_timeout,
            )
            self.stack.add(router)
            self.stack.register_target(ROUTER, port)
        self._put([(CHAMPION, server, champion, 100)])
        return router.url

    def _put(self, entries: list[tuple[str, Managed, ModelTarget, int]]) -> None:
        backends = [
            {"name": role, "url": svc.url, "weight": weight, "model_version": target.version}
            for role, svc, target, weight in entries
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

    def _require(self, role: str) -> Managed:
        service = self._service(role)
        if service is None:
            raise StackError(f"{role} is not running")
        return service

    # ------------------------------------------------------------------ Backend

    def deploy_canary(self, canary: ModelTarget, champion: ModelTarget, percent: int) -> None:
        self.ensure_serving(champion)
        if self._service(CANARY) is not None:
            self._stop(CANARY)  # left over from an interrupted rollout
        self.canary = canary
        self._start_server(CANARY, canary, self.canary_env)
        self.set_canary_traffic(percent)

    def set_canary_traffic(self, percent: int) -> None:
        assert self.champion is not None
        assert self.canary is not None
        self._put(
            [
                (CHAMPION, self._require(CHAMPION), self.champion, 100 - percent),
                (CANARY, self._require(CANARY), self.canary, percent),
            ]
        )

    def traffic(self) -> dict[str, int]:
        return {str(b["model_version"]): int(b["weight"]) for b in self.router_state()["backends"]}

    def promote(self) -> None:
        assert self.canary is not None
        canary, old = self._require(CANARY), self._require(CHAMPION)
        self._put([(CHAMPION, canary, self.canary, 100)])
        self._drain(old.url)
        self._stop(CHAMPION)
        self.stack.unregister_target(CANARY)
        self.stack.rename(CANARY, CHAMPION)
        self.stack.register_target(CHAMPION, canary.port)
        self.champion, self.canary = self.canary, None

    def rollback(self) -> None:
        assert self.champion is not None
        champion = self._require(CHAMPION)
        self._put([(CHAMPION, champion, self.champion, 100)])
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

    def abort_requested(self) -> bool:
        return (self.stack.state_dir / ABORT_FILE).exists()

    def request_abort(self) -> None:
        (self.stack.state_dir / ABORT_FILE).write_text(str(time.time()), encoding="utf-8")

    def clear_abort(self) -> None:
        (self.stack.state_dir / ABORT_FILE).unlink(missing_ok=True)

    def close(self) -> None:
        self._http.close()
