"""Trained through the pipeline, served by the predictor: iris (multiclass, the built-in
MLP and the team's own network from examples/models) and diabetes (regression), trained,
gated and registered in a real MLflow with the examples' configs, downloaded from the
registry and served by predictor processes. The served v1 and v2 answers must be MLflow's
pyfunc answers (the in-process model) within tolerance.

The predictors run with ``python -P`` (the working directory is not on sys.path), so the
custom network's factory can only come from the MLflow model's own code_paths."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import mlflow
import numpy as np
import pandas as pd
import pytest

from slipway.config import load_settings
from slipway.data import tables
from slipway.local import processes
from slipway.local.processes import Managed, free_port
from slipway.local.stack import start_mlflow
from slipway.pipeline.steps import run_pipeline
from slipway.registry import tracking
from slipway.rollout.model_registry import target_for
from slipway.serving.server import from_registry

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
#: model name -> (config, dataset, label)
MODELS = {
    "iris-mlp": ("iris/config.yaml", "iris", "species"),
    "iris-resnet": ("iris/config-resnet.yaml", "iris", "species"),
    "diabetes-mlp": ("diabetes/config.yaml", "diabetes", "progression"),
}


@dataclass
class Served:
    name: str
    label: str
    data: pd.DataFrame
    version: str
    server: Managed
    network: str  # as the rollout reads it from the registry (ModelVersion.network)


def _dataset(name: str) -> pd.DataFrame:
    sys.path.insert(0, str(REPO))
    from examples import fetch_data

    frame: pd.DataFrame = getattr(fetch_data, name)()
    return frame


def _serve(model_dir: Path, name: str, version: str, run_id: str, logs: Path) -> Managed:
    port = free_port()
    return processes.start(
        f"predictor-{name}-{port}",
        [
            sys.executable, "-P", "-m", "slipway.serving", "--model-dir", str(model_dir),
            "--model-name", name, "--model-version", version, "--run-id", run_id,
            "--http-port", str(port), "--host", "127.0.0.1",
        ],
        port=port, health_path=f"/v2/models/{name}/ready", log_dir=logs, timeout=180,
    )  # fmt: skip


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Served]]:
    state = tmp_path_factory.mktemp("tasks-pipeline")
    server = start_mlflow(state)
    previous = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = server.url
    client = tracking.connect(server.url)
    started: list[Managed] = []
    try:
        plans = {}
        for name, (config, dataset, label) in MODELS.items():
            frame = _dataset(dataset)
            path = state / f"{dataset}.csv"
            tables.write_table(frame, path)
            base = load_settings(EXAMPLES / config)
            settings = base.model_copy(
                update={
                    "training": base.training.model_copy(update={"progress": False}),
                    "tracking": base.tracking.model_copy(
                        update={"model_name": name, "experiment": f"test-{name}"}
                    ),
                }
            )
            result = run_pipeline(client, settings, path)
            assert result.registration is not None, result.decision
            version = result.registration.version
            source = from_registry(f"models:/{name}/{version}", state / "models", client)
            network = target_for(client, name, version, None).network
            plans[name] = (frame, label, version, source.model_dir, source.run_id, network)
        with ThreadPoolExecutor(len(plans)) as pool:
            futures = {
                name: pool.submit(_serve, model_dir, name, version, run_id, state / "logs")
                for name, (_, _, version, model_dir, run_id, _) in plans.items()
            }
        out = {}
        for name, future in futures.items():
            managed = future.result()
            started.append(managed)
            frame, label, version, _, _, network = plans[name]
            out[name] = Served(name, label, frame, version, managed, network)
        yield out
    finally:
        for managed in started:
            managed.stop()
        server.stop()
        if previous is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = previous


def _rows(served: Served, n: int = 30) -> list[dict[str, Any]]:
    features = served.data.drop(columns=[served.label])
    step = max(1, len(features) // n)
    records: list[dict[str, Any]] = features.iloc[::step].head(n).to_dict("records")
    return records


def _v2_body(rows: list[dict[str, Any]]) -> dict[str, Any]:
    def tensor(name: str) -> dict[str, Any]:
        values = [r[name] for r in rows]
        datatype = "INT64" if all(type(v) is int for v in values) else "FP64"
        return {"name": name, "datatype": datatype, "shape": [len(rows)], "data": values}

    return {"inputs": [tensor(name) for name in rows[0]]}


def _pyfunc(served: Served, rows: list[dict[str, Any]]) -> pd.DataFrame:
    model = mlflow.pyfunc.load_model(f"models:/{served.name}/{served.version}")
    answer: pd.DataFrame = model.predict(pd.DataFrame(rows))
    return answer


@pytest.mark.parametrize("name", ["iris-mlp", "iris-resnet"])
def test_multiclass_answers_are_mlflows(served: dict[str, Served], name: str) -> None:
    model = served[name]
    rows = _rows(model)
    expected = _pyfunc(model, rows)
    url = f"{model.server.url}/v{{}}/models/{name}"
    v1 = httpx.post(url.format(1) + ":predict", json={"instances": rows})
    assert v1.status_code == 200, v1.text
    predictions = v1.json()["predictions"]
    assert [p["prediction"] for p in predictions] == expected["prediction"].tolist()
    classes = ["setosa", "versicolor", "virginica"]
    np.testing.assert_allclose(
        [p["probabilities"] for p in predictions],
        expected[[f"probability_{c}" for c in classes]].to_numpy(),
        atol=1e-5,
    )
    # A trained model, not a seeded one: it tells the species apart.
    assert len(set(expected["prediction"])) == 3
    v2 = httpx.post(url.format(2) + "/infer", json=_v2_body(rows))
    assert v2.status_code == 200, v2.text
    outputs = {o["name"]: o for o in v2.json()["outputs"]}
    assert outputs["prediction"]["data"] == expected["prediction"].tolist()
    metadata = httpx.get(url.format(2)).json()
    assert metadata["parameters"]["classes"] == classes
    assert metadata["platform"] == ("slipway-torch" if name == "iris-resnet" else "slipway-numpy")


def test_the_registry_says_which_versions_need_torch(served: dict[str, Served]) -> None:
    """The rollout serves a custom network with the torch image; it knows one by this."""
    assert {name: s.network for name, s in served.items()} == {
        "iris-mlp": "mlp", "iris-resnet": "custom", "diabetes-mlp": "mlp",
    }  # fmt: skip


def test_regression_answers_are_mlflows(served: dict[str, Served]) -> None:
    model = served["diabetes-mlp"]
    rows = _rows(model)
    expected = _pyfunc(model, rows)["prediction"].to_numpy()
    url = f"{model.server.url}/v{{}}/models/{model.name}"
    v1 = httpx.post(url.format(1) + ":predict", json={"instances": rows})
    assert v1.status_code == 200, v1.text
    np.testing.assert_allclose(v1.json()["predictions"], expected, rtol=1e-5)
    v2 = httpx.post(url.format(2) + "/infer", json=_v2_body(rows))
    assert v2.status_code == 200, v2.text
    (output,) = v2.json()["outputs"]
    assert output["datatype"] == "FP64"
    np.testing.assert_allclose(output["data"], expected, rtol=1e-5)
    bad = httpx.post(url.format(1) + ":predict", json={"instances": [{**rows[0], "bmi": "x"}]})
    assert bad.status_code == 400
    assert "bmi" in bad.json()["error"]
