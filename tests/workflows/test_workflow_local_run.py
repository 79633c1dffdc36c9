"""The real training WorkflowTemplate, run here by the local executor against a real MLflow.

Nothing is faked: the steps are slipway.workflow.templates, MLflow is ``mlflow server`` in its
own process (SQLite, local artifacts), and the executor gives the steps the tracking URI
as the cluster's ``slipway-platform`` ConfigMap would.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from slipway.data import synthetic, tables
from slipway.local.processes import Managed
from slipway.local.stack import start_mlflow
from slipway.registry import aliases
from slipway.workflow import definitions
from slipway.workflow.executor import (
    LocalExecutor,
    compile_workflow,
    evaluate_when,
    substitute,
)
from slipway.workflow.templates import common

pytestmark = pytest.mark.integration

MODEL = "workflow-local-run"


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Managed]:
    server = start_mlflow(tmp_path_factory.mktemp("workflow-mlflow"))
    yield server
    server.stop()


def test_training_dag_registers_a_champion_then_a_challenger(
    mlflow_server: Managed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLIPWAY_TRAINING__EPOCHS", "3")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    data, reference = tmp_path / "train.csv", tmp_path / "reference.parquet"
    tables.write_table(synthetic.generate(3000, seed=1), data)
    tables.write_table(synthetic.generate(3000, seed=2), reference)
    executor = LocalExecutor(
        {
            common.PLATFORM_CONFIGMAP: {
                "MLFLOW_TRACKING_URI": mlflow_server.url,
                "SLIPWAY_HOME": str(tmp_path / "state"),
            }
        }
    )
    arguments = {
        "data": str(data),
        "reference": str(reference),
        "model-name": MODEL,
        "rollout-backend": "local",
    }

    first = executor.run(definitions.train_and_promote(), arguments)
    first.raise_for_failure()
    assert [(t.name, t.status) for t in first.tasks] == [
        ("validate-data", "Succeeded"),
        ("propose-trials", "Succeeded"),
        ("tune-trial", "Skipped"),  # no trials asked for: an empty fan-out
        ("pick-best", "Succeeded"),
        ("train", "Succeeded"),
        ("evaluate", "Succeeded"),
        ("register", "Succeeded"),
        ("canary", "Skipped"),  # a first model has no champion to be compared with
    ]
    assert [(t.name, t.status) for t in first.on_exit] == [("on-exit", "Succeeded")]
    run_id = first.task("validate-data").outputs["run-id"]
    assert first.task("evaluate").outputs == {"gate": "passed"}
    assert first.task("register").outputs == {"model-version": "1", "became-champion": "true"}

    client = MlflowClient(mlflow_server.url)
    champion = aliases.version_by_alias(client, MODEL, aliases.CHAMPION)
    assert champion is not None
    assert str(champion.version) == "1"
    assert champion.run_id == run_id
    assert champion.tags["slipway.run_id"] == run_id
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags["slipway.registered_version"] == "1"
    assert run.data.params["training.world_size"] == "1"  # one torchrun rank, in-process

    # Again on the same data: a challenger beside the champion, which the canary would take.
    second = executor.run(definitions.train_and_promote(), arguments, target="register")
    second.raise_for_failure()
    assert second.excluded == ["canary"]
    outputs = second.task("register").outputs
    assert outputs == {"model-version": "2", "became-champion": "false"}
    challenger = aliases.version_by_alias(client, MODEL, aliases.CHALLENGER)
    assert challenger is not None
    assert str(challenger.version) == "2"
    champion = aliases.version_by_alias(client, MODEL, aliases.CHAMPION)
    assert champion is not None
    assert str(champion.version) == "1"  # only a promotion moves the champion
    # ... and the canary's condition, on these real outputs, would now let it run.
    when = next(
        t.when
        for t in compile_workflow(definitions.train_and_promote(), {}).tasks
        if t.name == "canary"
    )
    values = {f"tasks.register.outputs.parameters.{k}": v for k, v in outputs.items()}
    assert when is not None
    assert evaluate_when(substitute(when, values, "canary"))
