"""Data and models through S3, end to end, with nothing mocked.

- S3: moto's server in its own process (``slipway.local.stack.start_s3``), standing in for
  AWS S3 on one machine (the real S3 REST API over HTTP);
- MLflow: ``mlflow server`` with proxied artifacts on that S3
  (``--artifacts-destination s3://slipway-artifacts/mlflow``, as on the cluster);
- the pipeline: slipway's own steps, reading ``s3://`` data with pyarrow;
- KServe: its own storage code (``kserve_storage.Storage.download``) fetching the storage
  URI the rollout resolves, then slipway's predictor serving the folder it filled.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.entities import RunStatus
from mlflow.tracking import MlflowClient
from s3_support import S3, start_session_s3, use_s3

from slipway.config import Settings
from slipway.data import synthetic, tables
from slipway.data.contract import load_contract
from slipway.errors import DataError
from slipway.local.processes import Managed
from slipway.local.stack import S3_ARTIFACTS_DESTINATION, start_mlflow
from slipway.pipeline.steps import PipelineResult, run_pipeline, split
from slipway.registry import datasets

from .conftest import fast_settings

pytestmark = pytest.mark.integration

MODEL = "s3-churn"
PASSING = {"min_accuracy": 0.5, "min_roc_auc": 0.5, "min_f1": 0.0, "max_log_loss": 1.0}


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3]:
    yield from start_session_s3(tmp_path_factory)


@pytest.fixture(scope="module")
def s3_mlflow(s3: S3, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Managed]:
    server = start_mlflow(
        tmp_path_factory.mktemp("mlflow-s3"),
        s3_endpoint=s3.endpoint,
        artifacts_destination=S3_ARTIFACTS_DESTINATION,
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def module_env(s3: S3, s3_mlflow: Managed) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        use_s3(patch, s3)
        patch.setenv("MLFLOW_TRACKING_URI", s3_mlflow.url)
        mlflow.set_tracking_uri(s3_mlflow.url)
        yield


@pytest.fixture(scope="module")
def client(module_env: None, s3_mlflow: Managed) -> MlflowClient:
    return MlflowClient(s3_mlflow.url)


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return synthetic.generate(2000, seed=1)


@pytest.fixture(scope="module")
def settings() -> Settings:
    return fast_settings(MODEL, **PASSING)


@pytest.fixture(scope="module")
def trained(
    client: MlflowClient, s3: S3, frame: pd.DataFrame, settings: Settings, tmp_path_factory: Any
) -> tuple[str, PipelineResult]:
    local = tmp_path_factory.mktemp("upload") / "train.parquet"
    tables.write_table(frame, local)
    uri = s3.upload(local, "churn/2026-12/train.parquet")
    return uri, run_pipeline(client, settings, uri)


def test_the_pipeline_trains_on_s3_data_and_registers(
    client: MlflowClient, trained: tuple[str, PipelineResult], frame: pd.DataFrame
) -> None:
    uri, result = trained
    assert result.registration is not None
    run = client.get_run(result.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags["slipway.data.path"] == uri
    # The same content as a local file has the same digest.
    assert run.data.tags["slipway.data.digest"] == tables.table_digest(frame)
    # The artifacts went through MLflow's proxy into the bucket.
    assert run.info.artifact_uri.startswith("mlflow-artifacts:")


def test_the_run_records_its_datasets_the_mlflow_way(
    client: MlflowClient,
    trained: tuple[str, PipelineResult],
    frame: pd.DataFrame,
    settings: Settings,
) -> None:
    uri, result = trained
    run = client.get_run(result.run_id)
    inputs = {
        {t.key: t.value for t in i.tags}[datasets.CONTEXT_TAG]: i for i in run.inputs.dataset_inputs
    }
    assert set(inputs) == {"training", "validation", "evaluation"}
    # The pipeline's split: stratified by the contract's label, as the train step cuts it.
    parts = split(frame, settings, load_contract(settings.data.contract))
    for context, rows, name in [
        ("training", parts.train, "train-train"),
        ("validation", parts.validation, "train-validation"),
        ("evaluation", parts.test, "train-test"),
    ]:
        dataset = inputs[context].dataset
        full = tables.table_digest(rows)
        assert dataset.name == name
        assert dataset.digest == full.removeprefix("sha256:")[:32]
        assert {t.key: t.value for t in inputs[context].tags}[datasets.DIGEST_TAG] == full
        assert dataset.source_type == "s3"
        assert json.loads(dataset.source)["uri"] == uri
        schema = json.loads(dataset.schema)["mlflow_colspec"]
        assert {c["name"] for c in schema} == set(frame.columns)
        assert json.loads(dataset.profile)["num_rows"] == len(rows)

    # The logged model is an input of the run, and the test metrics point at it and at the
    # evaluation dataset.
    model_id = datasets.model_id_of(run.data.tags["slipway.model_uri"])
    assert model_id is not None
    assert [m.model_id for m in run.inputs.model_inputs] == [model_id]
    linked = {m.key: m for m in client.get_logged_model(model_id).metrics or []}
    evaluation = inputs["evaluation"].dataset
    for key in ("test_accuracy", "test_roc_auc", "test_f1", "test_log_loss"):
        assert key in linked, sorted(linked)
        assert linked[key].dataset_name == evaluation.name
        assert linked[key].dataset_digest == evaluation.digest
        assert linked[key].value == pytest.approx(run.data.metrics[key])


def _bad_input(s3: S3, case: str, patch: pytest.MonkeyPatch, tmp: Path) -> tuple[str, str]:
    if case == "missing-object":
        return "s3://slipway-datasets/churn/absent.parquet", "no such object"
    if case == "wrong-bucket":
        return "s3://slipway-no-such-bucket/churn/train.parquet", "no bucket"
    if case == "unreadable-object":
        return s3.put("churn/broken.parquet", b"PAR1 these bytes are no parquet"), "unreadable"
    assert case == "absent-credentials"
    uri = s3.put("churn/fine.csv", synthetic.generate(100, seed=4).to_csv(index=False).encode())
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        patch.delenv(name)
    patch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp / "none"))
    patch.setenv("AWS_CONFIG_FILE", str(tmp / "none"))
    return uri, "no AWS credentials"


@pytest.mark.parametrize(
    "case", ["missing-object", "wrong-bucket", "unreadable-object", "absent-credentials"]
)
def test_bad_s3_input_fails_the_run_and_registers_nothing(
    client: MlflowClient, s3: S3, tmp_path: Path, case: str
) -> None:
    settings = fast_settings(f"s3-bad-{case}")
    with pytest.MonkeyPatch.context() as patch:
        uri, message = _bad_input(s3, case, patch, tmp_path)
        with pytest.raises(DataError, match=message) as err:
            run_pipeline(client, settings, uri)
    assert uri in str(err.value)
    experiment = client.get_experiment_by_name(settings.tracking.experiment)
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == RunStatus.to_string(RunStatus.FAILED)
    assert run.data.tags["slipway.data.validation"] == "failed"
    report = json.loads(
        Path(
            client.download_artifacts(run.info.run_id, "validation.json", str(tmp_path))
        ).read_text(encoding="utf-8")
    )
    assert uri in json.dumps(report)
    assert not run.inputs.dataset_inputs
    assert client.search_model_versions(f"name='{settings.tracking.model_name}'") == []


def test_kserve_downloads_the_storage_uri_and_the_predictor_serves_it(
    client: MlflowClient,
    s3: S3,
    trained: tuple[str, PipelineResult],
    frame: pd.DataFrame,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Registry version -> s3:// storage URI -> KServe's storage code -> slipway's predictor,
    with the same predictions as the registry's own pyfunc model."""
    from kserve_storage import Storage
    from prometheus_client import CollectorRegistry

    from slipway.rollout.model_registry import target_for
    from slipway.serving.predictor import SlipwayPredictor
    from slipway.serving.server import from_dir

    _, result = trained
    assert result.registration is not None
    version = result.registration.version
    target = target_for(
        client, MODEL, version, None, artifacts_destination=S3_ARTIFACTS_DESTINATION
    )
    model_id = datasets.model_id_of(client.get_model_version(MODEL, version).source)
    assert target.storage_uri == (
        f"{S3_ARTIFACTS_DESTINATION}/"
        f"{client.get_logged_model(str(model_id)).artifact_location.split(':', 1)[1].lstrip('/')}"
    )
    assert target.storage_uri.startswith("s3://slipway-artifacts/mlflow/")
    # Without the destination the proxied location is all MLflow gives.
    bare = target_for(client, MODEL, version, None)
    assert bare.storage_uri.startswith("mlflow-artifacts:")

    # KServe's storage initializer reads the endpoint from AWS_ENDPOINT_URL (the storage
    # secret's annotations set it in the pod); the credentials are the stack's local ones.
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3.endpoint)
    out = tmp_path / "mnt-models"
    out.mkdir()
    Storage.download(target.storage_uri, str(out))
    assert (out / "MLmodel").is_file()

    served = from_dir(out, MODEL, version, target.run_id)
    assert served.model_dir is not None
    predictor = SlipwayPredictor(
        MODEL, served.model_dir, served.version, served.run_id, registry=CollectorRegistry()
    )
    assert predictor.load()
    rows = frame.drop(columns=["churned"]).head(64).reset_index(drop=True)
    body = {"instances": json.loads(rows.to_json(orient="records"))}
    answer = predictor.infer("v1", body)
    assert isinstance(answer, dict)
    served_p = np.array([p["probabilities"][1] for p in answer["predictions"]], dtype=float)
    registry_p = mlflow.pyfunc.load_model(f"models:/{MODEL}/{version}").predict(rows)
    np.testing.assert_allclose(served_p, np.asarray(registry_p["probability"]), atol=1e-5)
