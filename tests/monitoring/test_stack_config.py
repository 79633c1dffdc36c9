"""The local stack's generated monitoring configs, checked by the real tools (promtool,
amtool), and a negative fixture that proves the check can fail."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from slipway.local.stack import RECEIVER_PATH, alertmanager_config, prometheus_config


def check(tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed (Debian's prometheus / prometheus-alertmanager)")
    return subprocess.run([tool, *args], capture_output=True, text=True, timeout=60)


def test_prometheus_scrapes_the_pushgateway_and_alerts_the_alertmanager(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    text = prometheus_config(
        tmp_path / "targets", 1.0, "http://127.0.0.1:9091", "http://127.0.0.1:9093", rules
    )
    config = json.loads(text)
    (push,) = [j for j in config["scrape_configs"] if j["job_name"] == "pushgateway"]
    assert push["honor_labels"] is True
    assert push["static_configs"] == [{"targets": ["127.0.0.1:9091"]}]
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == [
        "127.0.0.1:9093"
    ]
    assert config["rule_files"][0] == str(rules / "*.yaml")
    path = tmp_path / "prometheus.yml"
    path.write_text(text)
    result = check("promtool", "check", "config", "--syntax-only", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_without_monitoring_the_config_is_as_before(tmp_path: Path) -> None:
    config = json.loads(prometheus_config(tmp_path, 1.0))
    assert "alerting" not in config and "rule_files" not in config
    assert [j["job_name"] for j in config["scrape_configs"]] == ["slipway-local"]


def test_alertmanager_routes_to_the_receiver(tmp_path: Path) -> None:
    text = alertmanager_config("http://127.0.0.1:9095")
    config = json.loads(text)
    (receiver,) = config["receivers"]
    assert receiver["webhook_configs"][0]["url"] == "http://127.0.0.1:9095" + RECEIVER_PATH
    assert config["route"]["group_by"] == ["alertname", "model", "version"]
    path = tmp_path / "alertmanager.yml"
    path.write_text(text)
    result = check("amtool", "check-config", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_config_check_can_fail(tmp_path: Path) -> None:
    config = json.loads(alertmanager_config(None))
    config["route"]["receiver"] = "nobody"  # a route to a receiver that is not defined
    path = tmp_path / "alertmanager.yml"
    path.write_text(json.dumps(config))
    assert check("amtool", "check-config", str(path)).returncode != 0


@pytest.mark.integration
def test_a_running_prometheus_is_pointed_at_the_monitoring_services(tmp_path: Path) -> None:
    """A stack started without monitoring, then `up` again: the running Prometheus reloads a
    config that scrapes the Pushgateway and alerts the Alertmanager (real servers)."""
    import httpx

    from slipway.local.stack import ALERTMANAGER, PROMETHEUS, PUSHGATEWAY, LocalStack

    for tool in ("prometheus", "prometheus-pushgateway", "prometheus-alertmanager"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    stack = LocalStack(tmp_path / "state")
    try:
        first = stack.up(s3=False, monitoring=False)
        assert PUSHGATEWAY not in first
        prometheus = first[PROMETHEUS]
        services = stack.up(s3=False)
        assert services[PROMETHEUS].pid == prometheus.pid  # the same server, reloaded
        loaded = httpx.get(f"{prometheus.url}/api/v1/status/config", timeout=10).json()
        yaml = loaded["data"]["yaml"]
        assert services[PUSHGATEWAY].url.removeprefix("http://") in yaml
        assert services[ALERTMANAGER].url.removeprefix("http://") in yaml
    finally:
        stack.down()
