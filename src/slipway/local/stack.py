"""``slipway local up|down|status``: the local stack and its state file.

The state lives in ``.slipway/`` (or ``SLIPWAY_HOME``): ``stack.json`` lists the running
servers, ``mlflow/`` holds the SQLite database and the artifact folder, ``logs/`` the
servers' output, ``prometheus/`` Prometheus's generated config, its scrape targets and its
data, ``storage.json`` where MLflow keeps artifacts. Any command can find the stack through
``stack.json``.

The stack's S3 endpoint is moto's server (``python -m moto.server``): moto stands in for
AWS S3 on one machine, speaking the same API, so that steps read ``s3://`` data and KServe's
storage code downloads models exactly as on the cluster. It keeps objects in memory: they
are gone after ``slipway local down``. It has two buckets, one for datasets and one for
MLflow's artifacts (used when the stack starts with ``artifacts_in_s3``; the SQLite database
then refers to objects that a restart forgets, which is why the folder stays the default).
Moto accepts any credentials; the stack gives its clients the fixed local values below,
which open nothing anywhere else.

Prometheus scrapes what the stack registers as a target (model servers, the router): one
small JSON file per target under ``prometheus/targets/``, which Prometheus's file-based
discovery picks up without a restart.

Monitoring (``monitoring=True``, the default): Debian's Pushgateway, which the drift step
pushes to and Prometheus scrapes (``honor_labels``); Debian's Alertmanager (clustering off,
on loopback), which Prometheus sends alerts to and which delivers them to slipway's
receiver (slipway.monitoring.receiver: retraining from an alert) when the stack is given
its command; and the alert rules of ``prometheus/rules/*.yaml`` (``LOCAL_RULES_DIR``),
copied there from ``rules_source`` (``RULES_SOURCE``: the charts' rules for one machine).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import shutil
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from slipway.config import environ
from slipway.errors import StackError
from slipway.local.processes import Managed, free_port, start
from slipway.state_files import locked, read_json, write_json

MLFLOW = "mlflow"
PROMETHEUS = "prometheus"
PUSHGATEWAY = "pushgateway"
ALERTMANAGER = "alertmanager"
RECEIVER = "alert-receiver"
S3 = "s3"
#: Where the local Prometheus reads its alert rules, under the state folder.
LOCAL_RULES_DIR = Path(PROMETHEUS) / "rules"
#: The rule files the local stack loads from a checkout: the charts' rules made for one
#: machine (SLO, serving, drift; not the cluster-only ones, whose absent() would fire).
#: Found from this file (src/slipway/local/ in the checkout), not the working directory, so
#: a command run from elsewhere loads the same rules; outside a checkout it is absent.
RULES_SOURCE = Path(__file__).resolve().parents[3] / "charts/platform-monitoring/files/local"
#: The path of slipway's receiver that Alertmanager posts to.
RECEIVER_PATH = "/alerts"
DATASETS_BUCKET = "slipway-datasets"
ARTIFACTS_BUCKET = "slipway-artifacts"
S3_ARTIFACTS_DESTINATION = f"s3://{ARTIFACTS_BUCKET}/mlflow"
# Moto checks no signature: these fixed values only satisfy the AWS SDKs' need for some
# credentials. They are local test values, not secrets, and never go into a manifest.
LOCAL_S3_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "slipway-local",
    "AWS_SECRET_ACCESS_KEY": "slipway-local",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def default_state_dir() -> Path:
    return Path(environ().get("SLIPWAY_HOME", ".slipway")).resolve()


def s3_environment(endpoint: str) -> dict[str, str]:
    """What an S3 client of the local stack needs: the endpoint and the local credentials.

    ``AWS_ENDPOINT_URL_S3`` for pyarrow and the AWS SDKs, ``MLFLOW_S3_ENDPOINT_URL`` for
    MLflow's server, ``S3_ENDPOINT``/``S3_USE_HTTPS`` for KServe's storage code."""
    return {
        **LOCAL_S3_CREDENTIALS,
        "AWS_ENDPOINT_URL_S3": endpoint,
        "MLFLOW_S3_ENDPOINT_URL": endpoint,
        "S3_ENDPOINT": endpoint.removeprefix("http://"),
        "S3_USE_HTTPS": "0",
    }


def start_s3(
    state_dir: Path, buckets: tuple[str, ...] = (DATASETS_BUCKET, ARTIFACTS_BUCKET)
) -> Managed:
    """Moto's S3 server on a free loopback port, with ``buckets`` created."""
    if importlib.util.find_spec("moto") is None:
        raise StackError("the local S3 needs moto's server: install slipway's `local` extra")
    port = free_port()
    server = start(
        S3,
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        port=port,
        health_path="/moto-api/",
        log_dir=state_dir / "logs",
        timeout=60.0,
    )
    try:
        create_buckets(server.url, buckets)
    except BaseException:
        server.stop()
        raise
    return server


def create_buckets(endpoint: str, buckets: tuple[str, ...]) -> None:
    # A plain PUT creates a bucket on moto (it checks no signature); importing boto3 for
    # this would cost the stack's start a second on a loaded machine.
    for bucket in buckets:
        response = httpx.put(f"{endpoint}/{bucket}", timeout=10.0)
        if response.status_code != 200:
            raise StackError(f"the local S3 refused bucket {bucket}: HTTP {response.status_code}")


def mlflow_command(port: int, backend_store_uri: str, artifacts: Path | str) -> list[str]:
    return [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", backend_store_uri,
        "--artifacts-destination", str(artifacts),
        "--serve-artifacts",
        "--host", "127.0.0.1",
        "--port", str(port),
        "--workers", "1",
    ]  # fmt: skip


def start_mlflow(
    state_dir: Path,
    backend_store_uri: str | None = None,
    s3_endpoint: str | None = None,
    artifacts_destination: str | None = None,
) -> Managed:
    """An MLflow tracking server on a free loopback port, proxying artifacts to a folder,
    or to ``artifacts_destination`` (``s3://...``) on the S3 at ``s3_endpoint``. Only the
    server gets the S3 endpoint and credentials: its clients go through its proxy."""
    data = state_dir / MLFLOW
    data.mkdir(parents=True, exist_ok=True)
    backend = backend_store_uri or f"sqlite:///{data / 'mlflow.db'}"
    env = {
        "MLFLOW_TRACKING_URI": "",
        # MLflow 3's server runs a job executor (huey: seven consumer processes) for GenAI
        # jobs that slipway never submits; off, the stack's MLflow is two processes, and it
        # starts in about a third of the time on a loaded two-core machine.
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    }
    if artifacts_destination is not None:
        if s3_endpoint is None:
            raise StackError(f"artifacts in {artifacts_destination} need the local S3 endpoint")
        env |= s3_environment(s3_endpoint)
    port = free_port()
    return start(
        MLFLOW,
        mlflow_command(port, backend, artifacts_destination or data / "artifacts"),
        port=port,
        health_path="/health",
        log_dir=state_dir / "logs",
        env=env,
        timeout=120.0,
    )


def prometheus_config(
    targets_dir: Path,
    scrape_interval: float,
    pushgateway: str | None = None,
    alertmanager: str | None = None,
    rules_dir: Path | None = None,
) -> str:
    """The generated prometheus.yml: file-based discovery of the stack's targets; with the
    monitoring services, the Pushgateway's scrape, the Alertmanager and the rule files."""
    interval = f"{max(1, round(scrape_interval * 1000))}ms"
    scrape: list[dict[str, object]] = [
        {
            "job_name": "slipway-local",
            "scrape_interval": interval,
            "scrape_timeout": interval,
            "file_sd_configs": [{"files": [str(targets_dir / "*.json")], "refresh_interval": "1s"}],
        }
    ]
    config: dict[str, object] = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "scrape_configs": scrape,
    }
    if pushgateway is not None:
        # honor_labels: the pushed series keep their own job/instance labels.
        scrape.append(
            {
                "job_name": PUSHGATEWAY,
                "honor_labels": True,
                "scrape_interval": interval,
                "scrape_timeout": interval,
                "static_configs": [{"targets": [pushgateway.removeprefix("http://")]}],
            }
        )
    if alertmanager is not None:
        config["alerting"] = {
            "alertmanagers": [
                {"static_configs": [{"targets": [alertmanager.removeprefix("http://")]}]}
            ]
        }
    if rules_dir is not None:
        config["rule_files"] = [str(rules_dir / "*.yaml"), str(rules_dir / "*.yml")]
    return json.dumps(config, indent=2)  # JSON is YAML


def alertmanager_config(receiver_url: str | None, repeat_interval: str = "1h") -> str:
    """Alertmanager's config: every alert to slipway's receiver (none: dropped), grouped
    per alert, model and version, so one incident is one notification."""
    receiver: dict[str, object] = {"name": "slipway"}
    if receiver_url is not None:
        receiver["webhook_configs"] = [
            {"url": receiver_url + RECEIVER_PATH, "send_resolved": False, "max_alerts": 0}
        ]
    config = {
        "route": {
            "receiver": "slipway",
            "group_by": ["alertname", "model", "version"],
            # Local: deliver within seconds; the receiver's cool-down keeps it to one run.
            "group_wait": "1s",
            "group_interval": "5s",
            "repeat_interval": repeat_interval,
        },
        "receivers": [receiver],
    }
    return json.dumps(config, indent=2)


def _binary(name: str, package: str) -> str:
    binary = shutil.which(name)
    if binary is None:
        raise StackError(f"the `{name}` binary is not on PATH (Debian: apt-get install {package})")
    return binary


def start_pushgateway(state_dir: Path) -> Managed:
    """Debian's Pushgateway on a free loopback port, persisting what was pushed."""
    binary = _binary("prometheus-pushgateway", "prometheus-pushgateway")
    root = state_dir / PUSHGATEWAY
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    return start(
        PUSHGATEWAY,
        [
            binary,
            f"--web.listen-address=127.0.0.1:{port}",
            f"--persistence.file={root / 'metrics.data'}",
            "--persistence.interval=10s",
            "--log.level=warn",
        ],
        port=port,
        health_path="/-/ready",
        log_dir=state_dir / "logs",
        timeout=60.0,
    )


def start_alertmanager(state_dir: Path, receiver_url: str | None) -> Managed:
    """Debian's Alertmanager on a free loopback port, clustering off, routing to the
    receiver at ``receiver_url``."""
    binary = _binary("prometheus-alertmanager", "prometheus-alertmanager")
    root = state_dir / ALERTMANAGER
    root.mkdir(parents=True, exist_ok=True)
    config = root / "alertmanager.yml"
    config.write_text(alertmanager_config(receiver_url), encoding="utf-8")
    port = free_port()
    return start(
        ALERTMANAGER,
        [
            binary,
            f"--config.file={config}",
            f"--storage.path={root / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",  # one instance: no gossip port on any interface
            "--log.level=warn",
        ],
        port=port,
        health_path="/-/ready",
        log_dir=state_dir / "logs",
        timeout=60.0,
    )


def install_rules(state_dir: Path, source: Path) -> list[Path]:
    """Copy the rule files (``*.yaml``, ``*.yml``) of ``source`` to ``LOCAL_RULES_DIR``."""
    target = state_dir / LOCAL_RULES_DIR
    target.mkdir(parents=True, exist_ok=True)
    files = sorted([*source.glob("*.yaml"), *source.glob("*.yml")])
    for path in files:
        shutil.copyfile(path, target / path.name)
    return [target / path.name for path in files]


def write_prometheus_config(
    state_dir: Path, scrape_interval: float, pushgateway: str | None, alertmanager: str | None
) -> Path:
    """Write ``prometheus/prometheus.yml`` (see ``prometheus_config``); returns its path."""
    root = state_dir / PROMETHEUS
    targets = root / "targets"
    targets.mkdir(parents=True, exist_ok=True)
    rules = state_dir / LOCAL_RULES_DIR
    rules.mkdir(parents=True, exist_ok=True)
    config = root / "prometheus.yml"
    config.write_text(
        prometheus_config(targets, scrape_interval, pushgateway, alertmanager, rules),
        encoding="utf-8",
    )
    return config


def start_prometheus(
    state_dir: Path,
    scrape_interval: float = 1.0,
    pushgateway: str | None = None,
    alertmanager: str | None = None,
) -> Managed:
    """Prometheus on a free loopback port, scraping the targets the stack registers."""
    binary = shutil.which("prometheus")
    if binary is None:
        raise StackError(
            "the `prometheus` binary is not on PATH (Debian: apt-get install prometheus)"
        )
    root = state_dir / PROMETHEUS
    config = write_prometheus_config(state_dir, scrape_interval, pushgateway, alertmanager)
    port = free_port()
    return start(
        PROMETHEUS,
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={root / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--web.enable-lifecycle",
            "--storage.tsdb.retention.time=1d",
            "--log.level=warn",
        ],
        port=port,
        health_path="/-/ready",
        log_dir=state_dir / "logs",
        timeout=60.0,
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
