"""MLflow tracking: how a run records params, lineage and the model (runtime picks the server)."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
import torch
from mlflow.entities import Metric, Run
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient

import slipway
from slipway.errors import TrackingError
from slipway.registry.lineage import environment, git_commit
from slipway.training.model_bundle import ModelBundle
from slipway.training.trainer import EpochMetrics

MODEL_ARTIFACT = "model"
MODEL_URI_TAG = "slipway.model_uri"
SLIPWAY_SRC = Path(slipway.__file__).resolve().parent


def connect(tracking_uri: str, registry_uri: str | None = None) -> MlflowClient:
    """A client for the MLflow server at ``tracking_uri`` (the runtime says which)."""
    mlflow.set_tracking_uri(tracking_uri)
    if registry_uri:
        mlflow.set_registry_uri(registry_uri)
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=registry_uri)


def require_run(client: MlflowClient, run_id: str) -> Run:
    """The run ``run_id``; a run id MLflow does not know is the user's to fix, not a crash."""
    try:
        return client.get_run(run_id)
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            raise TrackingError(
                f"MLflow at {client.tracking_uri} has no run {run_id} "
                "(the run id comes from the validate step)"
            ) from exc
        raise


def start_run(client: MlflowClient, experiment: str, run_name: str | None = None) -> str:
    found = client.get_experiment_by_name(experiment)
    experiment_id = found.experiment_id if found else client.create_experiment(experiment)
    run = client.create_run(experiment_id, run_name=run_name)
    client.set_tag(run.info.run_id, "slipway.git_commit", git_commit(SLIPWAY_SRC))
    client.set_tag(run.info.run_id, "mlflow.source.git.commit", git_commit(SLIPWAY_SRC))
    for key, value in environment().items():
        client.set_tag(run.info.run_id, f"slipway.env.{key}", value)
    return str(run.info.run_id)


def log_params(client: MlflowClient, run_id: str, params: dict[str, Any]) -> None:
    for key, value in params.items():
        client.log_param(
            run_id, key, json.dumps(value) if isinstance(value, list | dict) else value
        )


class EpochLogger:
    """An ``on_epoch`` callback for training.train that logs every epoch's metrics.

    Epochs are buffered and sent in one request at most every ``interval`` seconds (and on
    ``flush``): a round trip to the tracking server costs about as much as a small epoch on
    a CPU, so sending each epoch at once would halve training throughput
    (benchmarks/train_throughput.py). Long GPU epochs still appear one by one.
    """

    def __init__(self, client: MlflowClient, run_id: str, interval: float = 5.0) -> None:
        self.client, self.run_id, self.interval = client, run_id, interval
        self._pending: list[Metric] = []
        self._last_sent = time.monotonic()

    def __call__(self, m: EpochMetrics) -> None:
        now = int(time.time() * 1000)
        self._pending += [Metric(key, value, now, m.epoch) for key, value in m.as_dict().items()]
        if time.monotonic() - self._last_sent >= self.interval:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            self.client.log_batch(self.run_id, metrics=self._pending)
            self._pending = []
        self._last_sent = time.monotonic()


def log_json(client: MlflowClient, run_id: str, payload: str, name: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_text(payload, encoding="utf-8")
        client.log_artifact(run_id, str(path))


def pip_requirements() -> list[str]:
    # Explicit, because MLflow's inference drops torch's local build tag (+cpu) and then
    # resolves to a different build; slipway's own code travels in code_paths.
    from importlib import metadata

    env = environment()
    return [
        f"mlflow=={env['mlflow']}",
        f"torch=={torch.__version__.split('+')[0]}",
        f"numpy=={env['numpy']}",
        f"pandas=={env['pandas']}",
        f"safetensors=={metadata.version('safetensors')}",  # bundle.weights imports it
        "pydantic>=2.9,<3",
        "ruamel.yaml>=0.18",
    ]


def log_model(run_id: str, bundle: ModelBundle, example: pd.DataFrame) -> str:
    """Log the bundle as an MLflow pyfunc model in ``run_id``; returns its model URI."""
    features = example[[c.name for c in bundle.contract.features]].head(5).reset_index(drop=True)
    # The signature follows the contract: int columns are long, floats double. (MLflow
    # refuses int64 input for a double column, so widening ints would break clients.)
    with tempfile.TemporaryDirectory() as tmp:
        bundle_dir = bundle.save(Path(tmp) / "bundle")
        code = Path(tmp) / "code" / "slipway"
        shutil.copytree(SLIPWAY_SRC, code, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        with mlflow.start_run(run_id=run_id), warnings.catch_warnings():
            # MLflow hints that int columns cannot hold nulls; the contract already says so.
            warnings.filterwarnings("ignore", message=".*integer column", category=UserWarning)
            info = mlflow.pyfunc.log_model(
                name=MODEL_ARTIFACT,
                loader_module="slipway.registry.pyfunc_loader",
                data_path=str(bundle_dir),
                code_paths=[str(code)],
                signature=infer_signature(features, bundle.predict_frame(features)),
                input_example=features,
                pip_requirements=pip_requirements(),
            )
    # MLflow 3 keeps the model as a LoggedModel (models:/m-...), not under the run's artifacts.
    MlflowClient().set_tag(run_id, MODEL_URI_TAG, info.model_uri)
    return str(info.model_uri)


def model_uri_of(client: MlflowClient, run_id: str) -> str:
    uri = require_run(client, run_id).data.tags.get(MODEL_URI_TAG)
    if not uri:
        raise TrackingError(f"run {run_id} has no logged model (tag {MODEL_URI_TAG} missing)")
    return str(uri)
