"""The local stack's observability servers: Prometheus, the Pushgateway, Alertmanager.

Prometheus scrapes what the stack registers as a target (model servers, the router): one
small JSON file per target under ``prometheus/targets/``, which Prometheus's file-based
discovery picks up without a restart.

Debian's Pushgateway is what the drift step pushes to and Prometheus scrapes
(``honor_labels``); Debian's Alertmanager (clustering off, on loopback) is what Prometheus
sends alerts to, and it delivers them to slipway's receiver (slipway.monitoring.receiver:
retraining from an alert) when the stack is given its command. The alert rules are
``prometheus/rules/*.yaml`` (``LOCAL_RULES_DIR``), copied there from ``RULES_SOURCE`` (the
charts' rules for one machine). slipway.local.stack starts and records them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from slipway.errors import StackError
from slipway.local.processes import Managed, free_port, start

PROMETHEUS = "prometheus"
PUSHGATEWAY = "pushgateway"
ALERTMANAGER = "alertmanager"
RECEIVER = "alert-receiver"
#: Where the local Prometheus reads its alert rules, under the state folder.
LOCAL_RULES_DIR = Path(PROMETHEUS) / "rules"
#: The rule files the local stack loads from a checkout: the charts' rules made for one
#: machine (SLO, serving, drift; not the cluster-only ones, whose absent() would fire).
#: Found from this file (src/slipway/local/ in the checkout), not the working directory, so
#: a command run from elsewhere loads the same rules; outside a checkout it is absent.
RULES_SOURCE = Path(__file__).resolve().parents[3] / "charts/platform-monitoring/files/local"
#: The path of slipway's receiver that Alertmanager posts to.
RECEIVER_PATH = "/alerts"


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
