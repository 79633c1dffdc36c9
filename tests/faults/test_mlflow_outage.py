"""MLflow unavailable while the pipeline trains, on a real MLflow server that the test
stops and starts again on the same port (same database, same artifact folder).

- A short outage: every MLflow call retries with backoff, the pipeline carries on and
  registers; the run ends FINISHED.
- An outage longer than the retries: the pipeline fails with an error that names MLflow
  and its URL, in bounded time; the run cannot be ended while MLflow is away, so the next
  pipeline run ends it FAILED, saying why (today's code left it RUNNING for ever).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from slipway.local import processes
from slipway.local.processes import Managed
from slipway.local.stack import MLFLOW, mlflow_command
from slipway.pipeline.steps import run_pipeline
from slipway.registry import tracking

from .test_pipeline_killed import EXPERIMENT, _owner_step, settings

pytestmark = pytest.mark.integration

_PIPELINE = """
import sys
sys.path.insert(0, {tests!r})
from slipway.pipeline.steps import run_pipeline
from slipway.registry import tracking
from test_pipeline_killed import settings
result = run_pipeline(tracking.connect({url!r}), settings({epochs}), {data!r})
print("registered", result.registration.version if result.registration else None)
"""


class Server:
    """An MLflow server that can be stopped and started again on its port."""

    def __init__(self, state: Path) -> None:
        self.state = state
        self.port = processes.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: Managed | None = None

    def start(self) -> None:
        self.process = processes.start(
            MLFLOW,
            mlflow_command(self.port, f"sqlite:///{self.state / 'mlflow.db'}",
                           self.state / "artifacts"),
            port=self.port,
            health_path="/health",
            log_dir=self.state / "logs",
            env={"MLFLOW_TRACKING_URI": "", "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
            timeout=180,
        )  # fmt: skip

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None


@pytest.fixture
def mlflow_server(tmp_path: Path) -> Iterator[Server]:
    server = Server(tmp_path / "mlflow")
    server.start()
    yield server
    server.stop()


def _pipeline(
    server: Server, data: Path, epochs: int, env: dict[str, str]
) -> subprocess.Popen[str]:
    script = _PIPELINE.format(
        tests=str(Path(__file__).parent), url=server.url, epochs=epochs, data=str(data)
    )
    return subprocess.Popen(
        [sys.executable, "-c", script],
        env={**os.environ, "MLFLOW_TRACKING_URI": server.url, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _wait_for_training(client: MlflowClient, proc: subprocess.Popen[str]) -> str:
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        seen = _owner_step(client)
        if seen is not None and seen[1] == "train":
            return seen[0]
        time.sleep(0.1)
    raise AssertionError(f"the pipeline never reached training: {proc.communicate()[1][-2000:]}")


def test_a_short_outage_is_ridden_out(mlflow_server: Server, fault_data: Path) -> None:
    client = MlflowClient(mlflow_server.url)
    proc = _pipeline(mlflow_server, fault_data, 60, {})
    try:
        run_id = _wait_for_training(client, proc)
        mlflow_server.stop()
        down = time.monotonic()
        time.sleep(3)
        mlflow_server.start()
        outage = time.monotonic() - down
        out, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-3000:]
    assert "registered" in out and "None" not in out, out
    assert client.get_run(run_id).info.status == "FINISHED"
    print(f"MLflow away for {outage:.0f}s during training: the pipeline carried on")


def test_a_long_outage_fails_naming_mlflow_and_the_next_run_ends_the_run_failed(
    mlflow_server: Server, fault_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server.url)
    client = tracking.connect(mlflow_server.url)
    # Fewer, shorter retries than MLflow's default (about four minutes of them), so that
    # "longer than the retries" fits in a test; a user can set the same variables.
    quick = {
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
        "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
        "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
        "SLIPWAY_MLFLOW_END_RUN_RETRY_S": "3",
    }
    proc = _pipeline(mlflow_server, fault_data, 400, quick)
    try:
        run_id = _wait_for_training(client, proc)
        mlflow_server.stop()
        down = time.monotonic()
        _, err = proc.communicate(timeout=300)
        failed_after = time.monotonic() - down
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    assert f"MLflow at {mlflow_server.url} did not answer" in err, err[-3000:]
    assert "the next pipeline run ends it FAILED" in err, err[-3000:]

    mlflow_server.start()
    assert client.get_run(run_id).info.status == "RUNNING"
    result = run_pipeline(client, settings(), fault_data)
    run = client.get_run(run_id)
    assert run.info.status == "FAILED"
    assert "abandoned" in run.data.tags[tracking.FAILURE_TAG]
    assert result.registration is not None
    assert client.get_experiment_by_name(EXPERIMENT) is not None
    print(f"MLflow away for good: the pipeline failed naming it after {failed_after:.0f}s")
