"""End to end on the embedded default: drifted traffic -> drift detected -> alert fires ->
retraining run registered -> gated.

Everything is real: the local stack (MLflow, the S3 stand-in, Prometheus with the charts'
alert rules, the Pushgateway, the Alertmanager, slipway's receiver as its own process),
the training workflow through the local executor, the predictor (in-process, fed through
its own request path) recording payloads, Evidently judging them. The retraining runs up
to ``register`` (``monitoring.retraining.target``) so the test stays short; the canary is
the rollout tests' subject.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from typer.testing import CliRunner

from slipway.cli import app
from slipway.config import load_settings
from slipway.data import synthetic, tables
from slipway.local.stack import RECEIVER
from slipway.monitoring import step
from slipway.registry import aliases
from slipway.runtime import Runtime
from slipway.serving import server
from slipway.workflow import local_run
from slipway.workflow.templates import drift

pytestmark = pytest.mark.integration

MODEL = "drift-e2e"
ALERT = "SlipwayDriftDetected"


def wait_for(what: str, probe: Callable[[], Any], timeout: float, logs: Path) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.5)
    tails = {p.name: p.read_text(errors="replace")[-2000:] for p in logs.glob("*.log")}
    pytest.fail(f"timed out waiting for {what}; logs: {json.dumps(tails, indent=1)}")


@pytest.fixture
def runtime(tmp_path: Path, repo_root: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv(
        "SLIPWAY_ALERT_RULES", str(repo_root / "charts/platform-monitoring/files/local")
    )
    train, reference = tmp_path / "train.csv", tmp_path / "reference.csv"
    tables.write_table(synthetic.generate(2000, seed=1), train)
    tables.write_table(synthetic.generate(2000, seed=2), reference)
    config = {
        "data": {"contract": str(load_settings().data.contract), "train": str(train),
                 "reference": str(reference)},
        "training": {"epochs": 5, "progress": False, "seed": 3},
        # Loose: the subject is the path from drift to a gated retraining, not model quality.
        "gate": {"min_accuracy": 0.5, "min_roc_auc": 0.5, "min_f1": 0.1, "max_log_loss": 2.0},
        "tracking": {"model_name": MODEL, "experiment": "drift-e2e"},
        "monitoring": {
            "payloads": {"sample_rate": 1.0, "flush_seconds": 0.2,
                         "directory": str(tmp_path / "payloads")},
            "drift": {"min_rows": 300, "drift_share": 0.25},
            "retraining": {"target": "register", "cooldown_seconds": 600},
        },
    }  # fmt: skip
    path = tmp_path / "config.yaml"
    path.write_text(json.dumps(config), encoding="utf-8")  # JSON is YAML
    # The workflow step finds its state folder the way a step does: SLIPWAY_HOME.
    monkeypatch.setenv("SLIPWAY_HOME", str(tmp_path / "state"))
    rt = Runtime.load(path, tmp_path / "state")
    try:
        rt.start_local_stack()
        rt.export_storage_environment()
        yield rt
    finally:
        rt.stack.down()


def serve_drifted_traffic(rt: Runtime, rows: int) -> pd.DataFrame:
    """The champion, through the predictor's own request path, answering drifted rows;
    returns their labels (what arrives later), in the order served."""
    source = server.from_registry(f"models:/{MODEL}@champion", rt.model_cache_dir, rt.mlflow)
    model = server.build_model(source, rt.settings.serving, rt.settings.monitoring.payloads)
    frame = synthetic.generate(rows, seed=11, drift=3.0)
    features = frame.drop(columns=["churned"])
    for start in range(0, rows, 50):
        model.infer("v1", {"instances": features.iloc[start : start + 50].to_dict("records")})
    model.payload_log.close()
    return frame[["churned"]]


def test_drifted_traffic_retrains_through_every_gate(runtime: Runtime) -> None:
    rt, logs = runtime, runtime.state_dir / "logs"
    first = local_run.run_training(rt, rt.settings.data.train, rt.settings.data.reference,
                                   target="register")  # fmt: skip
    assert first.status == "Succeeded", first
    champion = aliases.version_by_alias(rt.mlflow, MODEL, aliases.CHAMPION)
    assert champion is not None and champion.version == "1"

    truth = serve_drifted_traffic(rt, 600)
    outcome = step.run(rt.mlflow, rt.settings, pushgateway_url=rt.pushgateway_url())
    assert outcome.report.status == "drift", outcome.report.summary()
    assert outcome.report.rows == 600
    assert "monthly_charges" in outcome.report.drifted_columns
    logged = {a.path for a in rt.mlflow.list_artifacts(outcome.run_id, outcome.artifact_dir)}
    assert {f"{outcome.artifact_dir}/report.html", f"{outcome.artifact_dir}/drift.json"} <= logged

    prometheus, alertmanager = rt.prometheus_url(), rt.stack.alertmanager_url()
    firing = wait_for(
        "the drift alert to fire in Prometheus",
        lambda: httpx.get(f"{prometheus}/api/v1/query", params={
            "query": f'ALERTS{{alertname="{ALERT}",alertstate="firing",model="{MODEL}"}}'},
        ).json()["data"]["result"],
        60, logs,
    )  # fmt: skip
    assert firing[0]["metric"]["version"] == "1"
    wait_for(
        "the alert to reach the Alertmanager",
        lambda: [a for a in httpx.get(f"{alertmanager}/api/v2/alerts").json()
                 if a["labels"]["alertname"] == ALERT],
        60, logs,
    )  # fmt: skip

    receiver = rt.stack.services()[RECEIVER].url

    def finished() -> list[dict[str, Any]]:
        runs = httpx.get(f"{receiver}/retrainings").json()["retrainings"]
        return [r for r in runs if r["status"] != "running"]

    (done,) = wait_for("the retraining to finish", finished, 300, logs)
    detail = done["detail"]
    assert done["model"] == MODEL and done["version"] == "1" and done["alert"] == ALERT
    assert done["status"] == "succeeded", detail
    # Gated: the evaluate task gave its verdict, and only a passing run was registered.
    assert detail["gate"] in ("passed", "failed")
    assert (detail["registered_version"] is not None) == (detail["gate"] == "passed")
    assert detail["tasks"]["validate-data"]["status"] == "Succeeded"
    run = rt.mlflow.get_run(detail["run_id"])
    assert run.data.tags.get("gate.passed") == str(detail["gate"] == "passed").lower()
    # Drift never promotes by itself: the champion is still the version that drifted.
    champion = aliases.version_by_alias(rt.mlflow, MODEL, aliases.CHAMPION)
    assert champion is not None and champion.version == "1"
    if detail["registered_version"]:
        challenger = aliases.version_by_alias(rt.mlflow, MODEL, aliases.CHALLENGER)
        assert challenger is not None and challenger.version == detail["registered_version"]

    # Ground truth arrives: joined on request id (and row), live quality per version. The
    # second push of the same incident, through the command line, starts nothing.
    served = step.served_rows(rt.settings, MODEL, "1", 0.0)
    labels = served[["request_id", "row"]].assign(churned=truth["churned"].to_numpy())
    labels_file = rt.state_dir / "truth.csv"
    labels.to_csv(labels_file, index=False)
    cli = CliRunner().invoke(
        app,
        [
            "drift",
            "check",
            "--labels",
            str(labels_file),
            "--config",
            str(rt.config_path),
            "--state-dir",
            str(rt.state_dir),
        ],
    )
    assert cli.exit_code == 0, cli.output
    found = json.loads(cli.output[cli.output.index("{") :])
    assert found["status"] == "drift" and found["live"]["labelled_rows"] == 600
    pushed = httpx.get(f"{rt.pushgateway_url()}/metrics").text
    live = re.compile(
        rf'slipway_live_metric{{[^}}]*metric="accuracy",model="{MODEL}",version="1"}} '
    )
    assert live.search(pushed), pushed[-2000:]
    # The drift monitor's step, with no table named, judges the same served window.
    drifted, columns = drift.check_drift("", "", str(rt.config_path))
    assert drifted == "true" and "monthly_charges" in columns.split(",")
    again = httpx.post(
        f"{receiver}/alerts",
        json={
            "status": "firing",
            "alerts": [
                {"status": "firing", "labels": {"alertname": ALERT, "model": MODEL, "version": "1"}}
            ],
        },
    )
    assert again.json() == {"started": []}  # fmt: skip
    assert len(httpx.get(f"{receiver}/retrainings").json()["retrainings"]) == 1
