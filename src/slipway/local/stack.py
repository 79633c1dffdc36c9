"""``slipway local up|down|status``: the local stack and its state file.

The state lives in ``.slipway/`` (or ``SLIPWAY_HOME``): ``stack.json`` lists the running
servers, ``mlflow/`` holds the SQLite database and the artifact folder, ``logs/`` the
servers' output. Any command can find the stack through ``stack.json``.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from slipway.errors import StackError
from slipway.local.processes import Managed, free_port, start

MLFLOW = "mlflow"


def default_state_dir() -> Path:
    return Path(os.environ.get("SLIPWAY_HOME", ".slipway")).resolve()


def mlflow_command(port: int, backend_store_uri: str, artifacts: Path) -> list[str]:
    return [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", backend_store_uri,
        "--artifacts-destination", str(artifacts),
        "--serve-artifacts",
        "--host", "127.0.0.1",
        "--port", str(port),
        "--workers", "1",
    ]  # fmt: skip


def start_mlflow(state_dir: Path, backend_store_uri: str | None = None) -> Managed:
    """An MLflow tracking server on a free loopback port, proxying artifacts to a folder."""
    data = state_dir / MLFLOW
    data.mkdir(parents=True, exist_ok=True)
    backend = backend_store_uri or f"sqlite:///{data / 'mlflow.db'}"
    port = free_port()
    return start(
        MLFLOW,
        mlflow_command(port, backend, data / "artifacts"),
        port=port,
        health_path="/health",
        log_dir=state_dir / "logs",
        env={"MLFLOW_TRACKING_URI": ""},
        timeout=120.0,
    )


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    url: str
    pid: int
    healthy: bool


class LocalStack:
    def __init__(self, state_dir: Path | None = None) -> None:
        self.state_dir = (state_dir or default_state_dir()).resolve()
        self.state_file = self.state_dir / "stack.json"

    def _read(self) -> dict[str, Managed]:
        if not self.state_file.is_file():
            return {}
        try:
            raw = json.loads(self.state_file.read_text(encoding="utf-8"))
            return {name: Managed(**entry) for name, entry in raw.items()}
        except (ValueError, TypeError) as exc:
            raise StackError(f"corrupt stack state {self.state_file}: {exc}; remove it") from exc

    def _write(self, services: dict[str, Managed]) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({n: s.to_dict() for n, s in services.items()}, indent=2))
        tmp.replace(self.state_file)

    def services(self) -> dict[str, Managed]:
        """The recorded services that are still alive."""
        return {name: svc for name, svc in self._read().items() if svc.alive()}

    def add(self, service: Managed) -> None:
        services = self.services()
        services[service.name] = service
        self._write(services)

    def tracking_uri(self) -> str | None:
        mlflow = self.services().get(MLFLOW)
        return mlflow.url if mlflow else None

    def up(self, backend_store_uri: str | None = None) -> dict[str, Managed]:
        """Start what is not running yet; a second ``up`` is a no-op."""
        services = self.services()
        if MLFLOW not in services:
            try:
                services[MLFLOW] = start_mlflow(self.state_dir, backend_store_uri)
            except KeyboardInterrupt:
                self.down()
                raise
            self._write(services)
        return services

    def down(self) -> list[str]:
        stopped = []
        for name, service in self._read().items():
            service.stop()
            stopped.append(name)
        if self.state_file.exists():
            self.state_file.unlink()
        return stopped

    def status(self) -> list[ServiceStatus]:
        return [
            ServiceStatus(name, svc.url, svc.pid, svc.healthy())
            for name, svc in self._read().items()
        ]


@contextmanager
def running(state_dir: Path | None = None, keep: bool = False) -> Iterator[LocalStack]:
    """The stack for the length of a block: started if needed, stopped after unless ``keep``
    or unless it was already running before the block."""
    stack = LocalStack(state_dir)
    was_up = bool(stack.services())
    stack.up()
    try:
        yield stack
    finally:
        if not (keep or was_up):
            stack.down()
