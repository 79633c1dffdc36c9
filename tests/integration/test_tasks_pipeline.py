"""Multiclass and regression models, and a team's own network, through the real pipeline
and a real MLflow server, on data slipway does not generate (scikit-learn's bundled iris
and diabetes, written by examples/fetch_data.py)."""

from __future__ import annotations

import json
import os
import runpy
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from slipway.cli import app
from slipway.config import Settings, load_settings
from slipway.data import tables
from slipway.pipeline.steps import run_pipeline
from slipway.registry.aliases import CHALLENGER, CHAMPION, version_by_alias
from slipway.training.model_bundle import ModelBundle, find_bundle

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
# Run from its file: the example is a script, not part of the installed package.
fetch_data = runpy.run_path(str(EXAMPLES / "fetch_data.py"))["main"]


@pytest.fixture(scope="module")
def task_data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("task-data")
    out = {}
    for name in ("iris", "diabetes"):
        out[name] = folder / f"{name}.csv"
        assert fetch_data([name, str(out[name])]) == 0
    return out


def _settings(config: str, model_name: str, **training: object) -> Settings:
    base = load_settings(EXAMPLES / config)
    return base.model_copy(
        update={
            "training": base.training.model_copy(update={"progress": False, **training}),
            "tracking": base.tracking.model_copy(
                update={"model_name": model_name, "experiment": f"test-{model_name}"}
            ),
        }
    )


def _features(path: Path, label: str) -> pd.DataFrame:
    return tables.read_table(path).drop(columns=[label]).head(25)


def test_iris_trains_gates_and_registers_through_the_demo_command(
    client: MlflowClient, task_data: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # `slipway pipeline run --config examples/iris/config.yaml --data iris.csv`, as the demo.
    monkeypatch.setenv("SLIPWAY_TRACKING__MODEL_NAME", "iris-cli")
    monkeypatch.setenv("SLIPWAY_TRACKING__EXPERIMENT", "test-iris-cli")
    monkeypatch.setenv("SLIPWAY_TRAINING__EPOCHS", "30")
    monkeypatch.setenv("SLIPWAY_TRAINING__PROGRESS", "false")
    config = str(EXAMPLES / "iris" / "config.yaml")
    result = CliRunner().invoke(
        app, ["pipeline", "run", "--config", config, "--data", str(task_data["iris"])]
    )
    assert result.exit_code == 0, result.output
    assert "test metrics   accuracy" in result.output and "macro_f1" in result.output
    assert "registered     iris-cli version 1 -> challenger, champion" in result.output

    champion = version_by_alias(client, "iris-cli", CHAMPION)
    assert champion is not None
    assert champion.tags["gate.task"] == "multiclass"
    assert float(champion.tags["metric.accuracy"]) >= 0.8
    model = mlflow.pyfunc.load_model(f"models:/iris-cli/{champion.version}")
    rows = _features(task_data["iris"], "species")
    answer = model.predict(rows)
    assert list(answer.columns) == [
        "prediction", "probability_setosa", "probability_versicolor", "probability_virginica",
    ]  # fmt: skip
    assert set(answer["prediction"]) <= {"setosa", "versicolor", "virginica"}
    assert np.allclose(answer.filter(like="probability_").sum(axis=1), 1.0)
    # The registered model answers as the bundle it holds, loaded in this process.
    local = Path(mlflow.artifacts.download_artifacts(f"models:/iris-cli/{champion.version}"))
    bundle = ModelBundle.load(find_bundle(local))
    pd.testing.assert_frame_equal(answer, bundle.predict_frame(rows))


def test_the_example_custom_network_is_registered_and_loads_where_examples_is_not(
    client: MlflowClient, task_data: dict[str, Path], mlflow_server: object, tmp_path: Path
) -> None:
    settings = _settings("iris/config-resnet.yaml", "iris-resnet", epochs=30)
    result = run_pipeline(client, settings, task_data["iris"])
    assert result.registration is not None and result.registration.became_champion
    uri = f"models:/iris-resnet/{result.registration.version}"
    local = Path(mlflow.artifacts.download_artifacts(uri))
    bundle = ModelBundle.load(find_bundle(local))
    spec = bundle.network.spec
    assert (spec.kind, spec.factory, spec.params["width"]) == (
        "custom", "examples.models.resnet:build", 32,
    )  # fmt: skip
    rows = _features(task_data["iris"], "species")
    expected = bundle.predict_frame(rows)

    # A fresh process in a folder without examples/ on its path: the factory's code comes
    # with the model (its code_paths), and loading reads weights.pt with weights_only.
    rows.to_json(tmp_path / "rows.json", orient="records")
    script = (
        "import json, sys, mlflow, pandas as pd\n"
        "rows = pd.read_json(sys.argv[2], orient='records')\n"
        "answer = mlflow.pyfunc.load_model(sys.argv[1]).predict(rows)\n"
        "import examples.models.resnet as m\n"
        "print(json.dumps({'file': m.__file__, 'answer': answer.to_dict('list')}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["MLFLOW_TRACKING_URI"] = client.tracking_uri
    done = subprocess.run(
        [sys.executable, "-c", script, uri, str(tmp_path / "rows.json")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert not loaded["file"].startswith(str(EXAMPLES))  # the model's copy, not the repo's
    answer = pd.DataFrame(loaded["answer"])
    assert answer["prediction"].tolist() == expected["prediction"].tolist()
    np.testing.assert_allclose(
        answer.filter(like="probability_").to_numpy(),
        expected.filter(like="probability_").to_numpy(),
        rtol=1e-6,
    )


def test_a_regression_challenger_worse_than_the_champion_is_not_registered(
    client: MlflowClient, task_data: dict[str, Path]
) -> None:
    name = "diabetes-gate"
    settings = _settings("diabetes/config.yaml", name, epochs=15)
    first = run_pipeline(client, settings, task_data["diabetes"])
    assert first.decision is not None and first.decision.passed, first.decision
    assert first.registration is not None and first.registration.became_champion
    champion = version_by_alias(client, name, CHAMPION)
    assert champion is not None and champion.tags["gate.task"] == "regression"
    rows = _features(task_data["diabetes"], "progression")
    answer = mlflow.pyfunc.load_model(f"models:/{name}/{champion.version}").predict(rows)
    assert list(answer.columns) == ["prediction"] and answer["prediction"].dtype == np.float64
    assert answer["prediction"].between(25, 346).mean() > 0.9  # in the label's unit

    # One epoch at a tiny learning rate: near the mean, so RMSE far above the champion's.
    # The absolute thresholds are opened, so only the champion comparison can stop it.
    loose = settings.gate.regression.model_copy(update={"max_rmse": 500.0, "max_mae": 500.0,
                                                        "min_r2": -100.0})  # fmt: skip
    weak = _settings("diabetes/config.yaml", name, epochs=1, learning_rate=1e-5)
    weak = weak.model_copy(update={"gate": weak.gate.model_copy(update={"regression": loose})})
    second = run_pipeline(client, weak, task_data["diabetes"])
    decision = second.decision
    assert decision is not None and not decision.passed
    assert decision.champion is not None
    assert any(r.startswith("rmse ") and "worse than champion" in r for r in decision.reasons)
    assert second.registration is None
    assert version_by_alias(client, name, CHALLENGER).version == champion.version  # type: ignore[union-attr]
    assert len(client.search_model_versions(f"name = '{name}'")) == 1
    tags = client.get_run(second.run_id).data.tags
    assert tags["gate.passed"] == "false" and tags["gate.task"] == "regression"


@pytest.mark.parametrize(("config", "data"), [("iris/config.yaml", "iris"),
                                              ("diabetes/config.yaml", "diabetes")])  # fmt: skip
def test_a_tuning_trial_trains_for_the_task(
    client: MlflowClient, task_data: dict[str, Path], config: str, data: str
) -> None:
    from slipway.registry import tracking
    from slipway.workflow.tuning import METRIC, PARENT_TAG, run_trial

    settings = _settings(config, f"tuned-{data}", epochs=3)
    parent = tracking.start_run(client, settings.tracking.experiment, run_name="tuning")
    loss = run_trial(client, settings, parent, str(task_data[data]), 0, {"learning_rate": 0.01})
    assert np.isfinite(loss) and loss > 0
    child = client.search_runs(
        [client.get_run(parent).info.experiment_id],
        filter_string=f"tags.`{PARENT_TAG}` = '{parent}'",
    )
    assert [run.data.metrics[METRIC] for run in child] == [pytest.approx(loss)]
