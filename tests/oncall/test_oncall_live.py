"""Every dashboard query and every alert expression against a live Prometheus: the real
`prometheus` binary (started as the local stack starts it) scraping a real slipway model
server (KServe's ModelServer over a test bundle) under a little traffic and the real
Pushgateway, to which a drift report is pushed with the drift step's own code, with the local
stack's rules file loaded. The queries must parse, the local rules must evaluate without
error, the serving and drift dashboards' panels must return series, and the drift alert must
fire while the serving alerts stay quiet."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import torch

from slipway.config import load_settings
from slipway.data.contract import load_contract
from slipway.data.synthetic import generate
from slipway.local.processes import Managed
from slipway.local.stack import LocalStack, start_prometheus, start_pushgateway
from slipway.monitoring.drift import ColumnDrift, DriftReport
from slipway.monitoring.pushgateway import QUALITY_JOB, drift_registry, push, quality_registry
from slipway.training.features import Preprocessor
from slipway.training.model_bundle import ModelBundle
from slipway.training.network import NetworkSpec, TabularMLP

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "serving"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import oncall_checks as checks
import serving_support as support

from tests.podman_support import load_script

pytestmark = pytest.mark.integration

#: What the dashboards' variables and Grafana's interval become in the queries.
SUBSTITUTE = {
    "$__rate_interval": "15s",
    "$model": support.MODEL,
    "$version": support.BUNDLE_VERSION,
}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Prometheus's URL, once it has scraped the model server under traffic and evaluated
    the local rules."""
    root = tmp_path_factory.mktemp("oncall-live")
    contract = load_contract(load_settings().data.contract)
    preprocessor = Preprocessor.fit(generate(300, seed=5), contract)
    torch.manual_seed(0)
    network = TabularMLP(NetworkSpec(preprocessor.width, (8,), 0.0))
    network.eval()
    bundle = ModelBundle(contract, preprocessor, network).save(root / "bundle")
    state = root / "state"
    servers: list[Managed] = []
    try:
        servers.append(support.serve_bundle(bundle, state, {}))
        pushgateway = start_pushgateway(state)
        servers.append(pushgateway)
        prometheus = start_prometheus(state, scrape_interval=0.5, pushgateway=pushgateway.url)
        servers.append(prometheus)
        load_rules(state, prometheus.url)
        LocalStack(state).register_target("champion", servers[0].port)
        with httpx.Client(timeout=10) as http:
            rows = [support.VALID] * 4
            for i in range(120):
                support.predict_v1(servers[0].url, rows if i % 3 else rows[:1], http)
            # a client error (4xx): counted, and not a server error
            http.post(f"{servers[0].url}/v1/models/{support.MODEL}:predict", content=b"{")
        push_drift(pushgateway.url)
        wait_for(prometheus.url, "count(slipway_model:slo_errors:ratio_rate5m) > 0", 60)
        yield prometheus.url
    finally:
        for server in reversed(servers):
            server.stop()


def push_drift(url: str) -> None:
    """What the drift step pushes for a drifted window of the served version, and the live
    quality once ground truth arrived."""
    model, version = support.MODEL, support.BUNDLE_VERSION
    columns = (
        ColumnDrift(column="tenure_months", method="ks", threshold=0.05, score=0.001, drifted=True),
        ColumnDrift(column="region", method="chisquare", threshold=0.05, score=0.4, drifted=False),
    )
    report = DriftReport(
        model=model, version=version, status="drift", rows=500, reference_rows=2000,
        min_rows=200, drift_share=0.5, drifted_columns=("tenure_months",), columns=columns,
    )  # fmt: skip
    push(url, drift_registry(report), model, version)
    quality = quality_registry(model, version, 120, {"accuracy": 0.81})
    push(url, quality, model, version, job=QUALITY_JOB)


def load_rules(state: Path, url: str) -> None:
    """Point the running Prometheus at the local rules file and reload it (the stack
    starts Prometheus with --web.enable-lifecycle)."""
    config_path = state / "prometheus" / "prometheus.yml"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["rule_files"] = [str(load_script("dashboards/local_rules").LOCAL_RULES)]
    config_path.write_text(json.dumps(config), encoding="utf-8")
    response = httpx.post(f"{url}/-/reload", timeout=10)
    assert response.status_code == 200, response.text


def query(url: str, expr: str) -> dict[str, Any]:
    response = httpx.get(f"{url}/api/v1/query", params={"query": expr}, timeout=10)
    payload: dict[str, Any] = response.json()
    return payload


def wait_for(url: str, expr: str, timeout: float) -> list[Any]:
    deadline = time.monotonic() + timeout
    while True:
        payload = query(url, expr)
        assert payload["status"] == "success", (expr, payload)
        if payload["data"]["result"] or time.monotonic() > deadline:
            result: list[Any] = payload["data"]["result"]
            return result
        time.sleep(0.5)


def substituted(expr: str) -> str:
    for name, value in SUBSTITUTE.items():
        expr = expr.replace(name, value)
    return expr


def dashboard_queries() -> dict[str, list[tuple[str, str]]]:
    boards = {}
    for path in sorted(load_script("dashboards/build").OUT.glob("*.json")):
        board = json.loads(path.read_text(encoding="utf-8"))
        boards[board["uid"]] = [
            (panel["title"], substituted(target["expr"]))
            for panel in board["panels"]
            for target in panel.get("targets", [])
        ]
    return boards


def test_every_panel_query_parses(live: str) -> None:
    failed = {}
    for uid, queries in dashboard_queries().items():
        for title, expr in queries:
            payload = query(live, expr)
            if payload["status"] != "success":
                failed[f"{uid}: {title}"] = payload.get("error")
    assert failed == {}


def test_every_alert_expression_parses(live: str) -> None:
    failed = {}
    for path in sorted(checks.RULES.glob("*.yaml")):
        for group in checks.load_groups(path):
            for rule in group["rules"]:
                payload = query(live, rule["expr"])
                if payload["status"] != "success":
                    failed[rule.get("alert") or rule["record"]] = payload.get("error")
    assert failed == {}


@pytest.mark.parametrize("uid", ["slipway-serving", "slipway-drift"])
def test_the_serving_and_drift_panels_return_series(live: str, uid: str) -> None:
    empty = [title for title, expr in dashboard_queries()[uid] if not wait_for(live, expr, 20)]
    assert empty == []


def test_the_drift_alert_fires_on_the_pushed_report(live: str) -> None:
    firing = wait_for(live, 'ALERTS{alertname="SlipwayDriftDetected", alertstate="firing"}', 30)
    assert [(a["metric"]["model"], a["metric"]["version"]) for a in firing] == [
        (support.MODEL, support.BUNDLE_VERSION)
    ]


def test_the_version_variable_selects_the_served_version(live: str) -> None:
    (title, expr), *_ = dashboard_queries()["slipway-serving"]
    series = wait_for(live, expr, timeout=20)
    assert {s["metric"]["model_version"] for s in series} == {support.BUNDLE_VERSION}, title
    other = expr.replace(f'model_version=~"{support.BUNDLE_VERSION}"', 'model_version=~"999"')
    assert query(live, other)["data"]["result"] == []


def test_the_local_rules_load_and_evaluate(live: str) -> None:
    local = load_script("dashboards/local_rules")
    wanted = [g["name"] for g in checks.load_groups(local.LOCAL_RULES)]
    deadline = time.monotonic() + 30
    while True:
        groups = httpx.get(f"{live}/api/v1/rules", timeout=10).json()["data"]["groups"]
        health = {r["name"]: r["health"] for g in groups for r in g["rules"]}
        if all(h == "ok" for h in health.values()) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert sorted(g["name"] for g in groups) == sorted(wanted)
    assert {n: h for n, h in health.items() if h != "ok"} == {}
    # no traffic fails: the serving and SLO alerts stay quiet on a healthy server
    firing = query(live, 'ALERTS{alertname!="SlipwayDriftDetected"}')["data"]["result"]
    assert [a["metric"]["alertname"] for a in firing] == []
