"""MLflow authentication as the mlflow chart deploys it, proved on a real MLflow server.

The test takes what the chart renders (the auth config template of the server's
ExternalSecret, the bootstrap Job's identities and roles, and the two Python files of
charts/mlflow/files/), fills in what External Secrets would (passwords, user names; SQLite
instead of PostgreSQL, the one thing changed), starts `mlflow server --app-name basic-auth`
with it, runs the bootstrap as the Job would, then checks who may do what: an
unauthenticated client and a wrong password are refused; the pipeline logs runs, registers
versions and sets `challenger` (and a model's first `champion`) but cannot move `champion`
or delete; the rollout reads, sets `champion` and tags versions but cannot log, create or
delete; the metrics identity reads /metrics and nothing else.

MLflow's basic-auth app needs Flask-WTF (the `mlflow[auth]` extra), which is not in the
lock: without it the test skips and says so (the server image has it).
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from chart_render import CHARTS, Rendered

from slipway.local import processes

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        importlib.util.find_spec("flask_wtf") is None,
        reason="MLflow's basic-auth app needs Flask-WTF (mlflow[auth]), not in the lock",
    ),
]

FILES = CHARTS / "mlflow" / "files"
ADMIN_PASSWORD = "admin0test0password0only"
IDENTITIES = {
    "pipeline": ("slipway-pipeline", "pipeline0test0password"),
    "rollout": ("slipway-rollout", "rollout0test0password"),
    "metrics": ("slipway-metrics", "metrics0test0password"),
}


@dataclass(frozen=True)
class Server:
    url: str
    env: dict[str, str]

    def client(self, identity: str | None, password: str | None = None) -> Any:
        from mlflow import MlflowClient

        if identity is None:
            os.environ.pop("MLFLOW_TRACKING_USERNAME", None)
            os.environ.pop("MLFLOW_TRACKING_PASSWORD", None)
        else:
            username, right = IDENTITIES[identity]
            os.environ["MLFLOW_TRACKING_USERNAME"] = username
            os.environ["MLFLOW_TRACKING_PASSWORD"] = password or right
        return MlflowClient(self.url, self.url)


def _fill(template: str, values: dict[str, str]) -> str:
    """What External Secrets does to `{{ .key }}` (the chart's templates use no functions
    but `urlquery`, only in the database URI, which the test replaces)."""
    return re.sub(r"\{\{ \.(\w+) \}\}", lambda m: values[m.group(1)], template)


def _job_env(item: Rendered) -> dict[str, str]:
    job = item.one("Job", "mlflow-auth-bootstrap")
    env = job["spec"]["template"]["spec"]["containers"][0]["env"]
    return {e["name"]: e["value"] for e in env if "value" in e and e["name"] != "HOME"}


@pytest.fixture(scope="module")
def server(
    rendered: dict[tuple[str, str], Rendered], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    item = rendered["mlflow", "production"]
    root = tmp_path_factory.mktemp("mlflow-auth")
    values = {"admin_password": ADMIN_PASSWORD}
    for name, (username, password) in IDENTITIES.items():
        values |= {f"{name}_username": username, f"{name}_password": password}
    server_secret = item.one("ExternalSecret", "mlflow-server")
    ini = server_secret["spec"]["target"]["template"]["data"]["basic_auth.ini"]
    ini = re.sub(r"(?m)^database_uri = .*$", f"database_uri = sqlite:///{root}/auth.db", ini)
    config = root / "basic_auth.ini"
    config.write_text(_fill(ini, values))
    # The bootstrap Job's Secret, as its ExternalSecret templates it.
    bootstrap_secret = item.one("ExternalSecret", "mlflow-auth-bootstrap")
    job_env = {
        k: _fill(v, values)
        for k, v in bootstrap_secret["spec"]["target"]["template"]["data"].items()
    }
    port = processes.free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        "MLFLOW_AUTH_CONFIG_PATH": str(config),
        "PYTHONPATH": os.pathsep.join([str(FILES), os.environ.get("PYTHONPATH", "")]),
        "MLFLOW_FLASK_SERVER_SECRET_KEY": "test-only-flask-key",
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    }
    managed = processes.start(
        "mlflow-auth",
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--app-name",
            "basic-auth",
            "--backend-store-uri",
            f"sqlite:///{root}/mlflow.db",
            "--default-artifact-root",
            str(root / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        port=port,
        health_path="/health",
        log_dir=root / "logs",
        env=env,
        timeout=240,
    )
    try:
        bootstrap_env = {**os.environ, **job_env, **_job_env(item), "MLFLOW_TRACKING_URI": url}
        for _ in range(2):  # the second run proves it idempotent
            done = subprocess.run(
                [sys.executable, str(FILES / "bootstrap_auth.py")],
                env=bootstrap_env,
                capture_output=True,
                text=True,
                timeout=180,
                check=False,
            )
            assert done.returncode == 0, done.stderr[-3000:]
        assert "pipeline: user slipway-pipeline updated, role slipway-pipeline" in done.stdout
        yield Server(url, bootstrap_env)
    finally:
        os.environ.pop("MLFLOW_TRACKING_USERNAME", None)
        os.environ.pop("MLFLOW_TRACKING_PASSWORD", None)
        managed.stop()


def _status(call: Any) -> int:
    from mlflow.exceptions import MlflowException

    try:
        call()
    except MlflowException as exc:
        return int(exc.get_http_status_code())
    return 200


@pytest.fixture(scope="module")
def model(server: Server) -> dict[str, str]:
    """What the pipeline makes: an experiment, a run, a model with two versions."""
    pipeline = server.client("pipeline")
    experiment = pipeline.create_experiment("auth-test")
    run = pipeline.create_run(experiment)
    pipeline.log_metric(run.info.run_id, "accuracy", 0.9)
    pipeline.set_terminated(run.info.run_id)
    pipeline.create_registered_model("auth-model")
    source = f"runs:/{run.info.run_id}/model"
    v1 = pipeline.create_model_version("auth-model", source, run.info.run_id).version
    v2 = pipeline.create_model_version("auth-model", source, run.info.run_id).version
    return {"experiment": experiment, "run": run.info.run_id, "v1": v1, "v2": v2}


def test_unauthenticated_and_wrong_password_are_refused(server: Server) -> None:
    assert (
        httpx.get(f"{server.url}/api/2.0/mlflow/experiments/search?max_results=1").status_code
        == 401
    )
    assert _status(lambda: server.client(None).search_experiments()) == 401
    assert _status(lambda: server.client("rollout", "wrong").search_experiments()) == 401


def test_the_pipeline_registers_and_sets_challenger_but_never_moves_champion(
    server: Server, model: dict[str, str]
) -> None:
    pipeline = server.client("pipeline")
    # a model's first version becomes champion at registration: nothing serves yet
    assert (
        _status(lambda: pipeline.set_registered_model_alias("auth-model", "champion", model["v1"]))
        == 200
    )
    assert (
        _status(
            lambda: pipeline.set_registered_model_alias("auth-model", "challenger", model["v2"])
        )
        == 200
    )
    assert (
        _status(lambda: pipeline.set_registered_model_alias("auth-model", "champion", model["v2"]))
        == 403
    )
    assert _status(lambda: pipeline.delete_registered_model_alias("auth-model", "champion")) == 403
    assert _status(lambda: pipeline.delete_model_version("auth-model", model["v2"])) == 403
    assert _status(lambda: pipeline.delete_registered_model("auth-model")) == 403
    assert (
        server.client("rollout").get_model_version_by_alias("auth-model", "champion").version
        == model["v1"]
    )


def test_the_rollout_moves_champion_and_creates_nothing(
    server: Server, model: dict[str, str]
) -> None:
    rollout = server.client("rollout")
    assert rollout.get_run(model["run"]).data.metrics == {"accuracy": 0.9}
    assert (
        _status(lambda: rollout.set_registered_model_alias("auth-model", "champion", model["v2"]))
        == 200
    )
    assert (
        _status(
            lambda: rollout.set_model_version_tag(
                "auth-model", model["v2"], "slipway.promotion", "test"
            )
        )
        == 200
    )
    assert rollout.get_model_version_by_alias("auth-model", "champion").version == model["v2"]
    source = f"runs:/{model['run']}/model"
    assert _status(lambda: rollout.create_run(model["experiment"])) == 403
    assert _status(lambda: rollout.create_model_version("auth-model", source, model["run"])) == 403
    assert _status(lambda: rollout.create_experiment("rollout-made")) == 403
    assert _status(lambda: rollout.create_registered_model("rollout-made")) == 403
    assert _status(lambda: rollout.delete_registered_model_alias("auth-model", "champion")) == 403


def test_the_metrics_identity_reads_metrics_only(server: Server, model: dict[str, str]) -> None:
    """/metrics needs a user; the metrics identity is one, with no grants. (MLflow's
    Prometheus exporter, prometheus_flask_exporter, is not installed here: its route answers
    404 to an authenticated request here, 200 in the server image.)"""
    assert httpx.get(f"{server.url}/metrics").status_code == 401
    assert httpx.get(f"{server.url}/metrics", auth=IDENTITIES["metrics"]).status_code != 401
    reader = server.client("metrics")
    assert [e.name for e in reader.search_experiments()] == []
    assert _status(lambda: reader.get_run(model["run"])) == 403
    assert _status(lambda: reader.get_registered_model("auth-model")) == 403
