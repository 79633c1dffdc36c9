"""``slipway local up|down|status``: the local stack and its state file.

The state lives in ``.slipway/`` (or ``SLIPWAY_HOME``): ``stack.json`` lists the running
servers, ``mlflow/`` holds the SQLite database and the artifact folder, ``logs/`` the
servers' output, ``prometheus/`` Prometheus's generated config, its scrape targets and its
data, ``storage.json`` where MLflow keeps artifacts. Any command can find the stack through
``stack.json``.

The servers themselves: MLflow and the S3 endpoint (moto, standing in for AWS S3) in
slipway.local.tracking_server; Prometheus, the Pushgateway and Alertmanager
(``monitoring=True``, the default) in slipway.local.observability. This module starts them,
records them, and finds them again; it re-exports their names.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from slipway.config import environ
from slipway.errors import StackError
from slipway.local.observability import (
    ALERTMANAGER,
    LOCAL_RULES_DIR,
    PROMETHEUS,
    PUSHGATEWAY,
    RECEIVER,
    RECEIVER_PATH,
    RULES_SOURCE,
    alertmanager_config,
    install_rules,
    prometheus_config,
    start_alertmanager,
    start_prometheus,
    start_pushgateway,
    write_prometheus_config,
)
from slipway.local.processes import Managed, free_port, start
from slipway.local.tracking_server import (
    ARTIFACTS_BUCKET,
    DATASETS_BUCKET,
    LOCAL_S3_CREDENTIALS,
    MLFLOW,
    S3,
    S3_ARTIFACTS_DESTINATION,
    create_buckets,
    mlflow_command,
    s3_environment,
    start_mlflow,
    start_s3,
)
from slipway.state_files import locked, read_json, write_json

__all__ = [
    "ALERTMANAGER",
    "ARTIFACTS_BUCKET",
    "DATASETS_BUCKET",
    "LOCAL_RULES_DIR",
    "LOCAL_S3_CREDENTIALS",
    "MLFLOW",
    "PROMETHEUS",
    "PUSHGATEWAY",
    "RECEIVER",
    "RECEIVER_PATH",
    "RULES_SOURCE",
    "S3",
    "S3_ARTIFACTS_DESTINATION",
    "LocalStack",
    "ServiceStatus",
    "alertmanager_config",
    "create_buckets",
    "default_state_dir",
    "install_rules",
    "mlflow_command",
    "prometheus_config",
    "running",
    "s3_environment",
    "start_alertmanager",
    "start_mlflow",
    "start_prometheus",
    "start_pushgateway",
    "start_s3",
    "write_prometheus_config",
]


def default_state_dir() -> Path:
    return Path(environ().get("SLIPWAY_HOME", ".slipway")).resolve()


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
        try:
            raw = read_json(
                self.state_file,
                "stack state",
                "move it aside and run `slipway local up` again (servers it listed may still "
                f"be running: their logs are in {self.state_dir / 'logs'})",
            )
        except ValueError as exc:
            raise StackError(str(exc)) from exc
        if raw is None:
            return {}
        try:
            return {name: Managed(**entry) for name, entry in raw.items()}
        except (AttributeError, TypeError) as exc:
            raise StackError(
                f"corrupt stack state {self.state_file}: {exc}; move it aside and run "
                "`slipway local up` again"
            ) from exc

    def _write(self, services: dict[str, Managed]) -> None:
        """Record ``services`` (added or replaced) in ``stack.json``, keeping what another
        command recorded meanwhile and dropping entries whose process is gone."""
        with locked(self.state_file):
            current = {n: s for n, s in self._read().items() if s.alive()}
            current.update(services)
            self._save(current)

    def _save(self, services: dict[str, Managed]) -> None:
        # Atomic (unique temporary file, fsync, rename): a crash leaves the old or the new.
        write_json(self.state_file, {n: s.to_dict() for n, s in services.items()})

    def services(self) -> dict[str, Managed]:
        """The recorded services that are still alive (the same process, not just a PID
        that another process has since been given)."""
        return {name: svc for name, svc in self._read().items() if svc.alive()}

    def add(self, service: Managed) -> None:
        self._write({service.name: service})

    def remove(self, name: str) -> Managed | None:
        """Forget a service (and its scrape target); the caller stops it."""
        with locked(self.state_file):
            services = self._read()
            service = services.pop(name, None)
            self._save(services)
        self.unregister_target(name)
        return service

    def rename(self, old: str, new: str) -> None:
        with locked(self.state_file):
            services = self._read()
            if old in services:
                svc = services.pop(old)
                services[new] = dataclasses.replace(svc, name=new)
                self._save(services)

    def free_port(self) -> int:
        """A free loopback port (for a server about to start)."""
        return free_port()

    def start_service(
        self,
        name: str,
        command: list[str],
        *,
        port: int,
        health_path: str,
        env: dict[str, str] | None = None,
        timeout: float = 90.0,
    ) -> Managed:
        """Start ``command`` (logging under ``logs/``), wait until
        ``http://127.0.0.1:{port}{health_path}`` answers, and record it as ``name``."""
        service = start(
            name,
            command,
            port=port,
            health_path=health_path,
            log_dir=self.state_dir / "logs",
            env=env,
            timeout=timeout,
        )
        self.add(service)
        return service

    def tracking_uri(self) -> str | None:
        mlflow = self.services().get(MLFLOW)
        return mlflow.url if mlflow else None

    def s3_endpoint(self) -> str | None:
        s3 = self.services().get(S3)
        return s3.url if s3 else None

    @property
    def storage_file(self) -> Path:
        return self.state_dir / "storage.json"

    def artifacts_destination(self) -> str | None:
        """Where the stack's MLflow keeps artifacts, when that is the S3 bucket."""
        if MLFLOW not in self.services() or not self.storage_file.is_file():
            return None
        try:
            value = read_json(self.storage_file, "stack storage record", "run `slipway local down`")
        except ValueError as exc:
            raise StackError(str(exc)) from exc
        destination = value.get("artifacts_destination") if type(value) is dict else None
        return str(destination) if destination else None

    def prometheus_url(self) -> str | None:
        prometheus = self.services().get(PROMETHEUS)
        return prometheus.url if prometheus else None

    def pushgateway_url(self) -> str | None:
        pushgateway = self.services().get(PUSHGATEWAY)
        return pushgateway.url if pushgateway else None

    def alertmanager_url(self) -> str | None:
        alertmanager = self.services().get(ALERTMANAGER)
        return alertmanager.url if alertmanager else None

    def reload_rules(self, source: Path) -> list[Path]:
        """Copy ``source``'s rule files into the stack and have Prometheus reload them."""
        files = install_rules(self.state_dir, source)
        url = self.prometheus_url()
        if url is not None:
            response = httpx.post(f"{url}/-/reload", timeout=30.0)
            if response.status_code != 200:
                raise StackError(f"Prometheus refused its rules: {response.text.strip()}")
        return files

    def _start_monitoring(
        self, services: dict[str, Managed], receiver: Callable[[int], list[str]] | None
    ) -> None:
        """The Pushgateway, the receiver (given its command) and the Alertmanager."""
        if PUSHGATEWAY not in services:
            services[PUSHGATEWAY] = start_pushgateway(self.state_dir)
            self._write(services)
        if receiver is not None and RECEIVER not in services:
            port = free_port()
            services[RECEIVER] = start(
                RECEIVER,
                receiver(port),
                port=port,
                health_path="/healthz",
                log_dir=self.state_dir / "logs",
                timeout=120.0,
            )
            self._write(services)
        if ALERTMANAGER not in services:
            receiver_url = services[RECEIVER].url if RECEIVER in services else None
            services[ALERTMANAGER] = start_alertmanager(self.state_dir, receiver_url)
            self._write(services)

    # ------------------------------------------------------------------ scrape targets

    @property
    def targets_dir(self) -> Path:
        return self.state_dir / PROMETHEUS / "targets"

    def register_target(self, name: str, port: int, labels: dict[str, str] | None = None) -> None:
        """Have Prometheus scrape ``127.0.0.1:port/metrics`` (picked up within seconds)."""
        entry = [{"targets": [f"127.0.0.1:{port}"], "labels": {"service": name, **(labels or {})}}]
        # Atomic, under a unique temporary name: Prometheus's file discovery reads the old
        # file or the new, and two commands registering at once do not share a temp file.
        write_json(self.targets_dir / f"{name}.json", entry)

    def unregister_target(self, name: str) -> None:
        (self.targets_dir / f"{name}.json").unlink(missing_ok=True)

    def up(
        self,
        backend_store_uri: str | None = None,
        prometheus: bool = True,
        scrape_interval: float = 1.0,
        s3: bool = True,
        artifacts_in_s3: bool = False,
        monitoring: bool = True,
        receiver: Callable[[int], list[str]] | None = None,
        rules_source: Path | None = None,
    ) -> dict[str, Managed]:
        """Start what is not running yet; a second ``up`` is a no-op.

        The S3 endpoint and MLflow start side by side (MLflow touches S3 only when an
        artifact moves), so the S3 stand-in adds next to nothing to the start."""
        services = self.services()
        try:
            with ThreadPoolExecutor(max_workers=2) as pool:
                s3_start = (
                    pool.submit(start_s3, self.state_dir) if s3 and S3 not in services else None
                )
                if s3_start is not None and artifacts_in_s3 and MLFLOW not in services:
                    # MLflow needs the endpoint in its environment: wait for it first.
                    services[S3] = s3_start.result()
                    self._write(services)
                    s3_start = None
                if MLFLOW not in services:
                    destination = S3_ARTIFACTS_DESTINATION if artifacts_in_s3 else None
                    endpoint = services[S3].url if S3 in services else None
                    services[MLFLOW] = start_mlflow(
                        self.state_dir, backend_store_uri, endpoint, destination
                    )
                    self._write(services)
                    write_json(self.storage_file, {"artifacts_destination": destination})
                if s3_start is not None:
                    services[S3] = s3_start.result()
                    self._write(services)
            if monitoring and prometheus:  # what they feed and alert on is Prometheus
                before = set(services)
                self._start_monitoring(services, receiver)
                if rules_source is not None and rules_source.is_dir():
                    install_rules(self.state_dir, rules_source)
                if PROMETHEUS in services and set(services) - before:
                    # A Prometheus from before the monitoring services: point it at them.
                    write_prometheus_config(
                        self.state_dir,
                        scrape_interval,
                        services[PUSHGATEWAY].url,
                        services[ALERTMANAGER].url,
                    )
                    httpx.post(f"{services[PROMETHEUS].url}/-/reload", timeout=30.0)
            if prometheus and PROMETHEUS not in services:
                push = services.get(PUSHGATEWAY)
                alerts = services.get(ALERTMANAGER)
                services[PROMETHEUS] = start_prometheus(
                    self.state_dir,
                    scrape_interval,
                    push.url if push else None,
                    alerts.url if alerts else None,
                )
                self._write(services)
        except KeyboardInterrupt:
            self.down()
            raise
        return services

    def down(self) -> list[str]:
        stopped = []
        for name, service in self._read().items():
            service.stop()
            stopped.append(name)
            self.unregister_target(name)
        for path in (self.state_file, self.storage_file):
            if path.exists():
                path.unlink()
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
