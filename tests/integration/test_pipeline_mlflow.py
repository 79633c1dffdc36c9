"""The train -> track -> register loop against a real MLflow server (SQLite backend)."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from slipway.data import synthetic, tables
from slipway.errors import DataError
from slipway.pipeline.steps import run_pipeline
from slipway.registry.aliases import CHALLENGER, CHAMPION, version_by_alias

from .conftest import fast_settings

pytestmark = pytest.mark.integration


def test_first_model_becomes_champion_and_the_next_only_challenger(
    client: MlflowClient, demo_files: tuple[Path, Path]
) -> None:
    settings = fast_settings("loop-model")
    train, reference = demo_files
    first = run_pipeline(client, settings, train, reference)
    assert first.registration is not None
    assert first.registration.became_champion
    champion = version_by_alias(client, "loop-model", CHAMPION)
    assert champion is not None and champion.version == first.registration.version

    second = run_pipeline(client, settings, train, reference)
    assert second.registration is not None
    assert not second.registration.became_champion
    assert second.decision is not None and second.decision.champion is not None
    champion = version_by_alias(client, "loop-model", CHAMPION)
    challenger = version_by_alias(client, "loop-model", CHALLENGER)
    assert champion is not None and champion.version == first.registration.version
    assert challenger is not None and challenger.version == second.registration.version

    # Lineage on the version: run, data digest, commit, metrics, gate.
    tags = challenger.tags
    assert tags["slipway.run_id"] == second.run_id
    assert tags["slipway.data.digest"] == tables.table_digest(tables.read_table(train))
    assert tags["slipway.git_commit"] not in ("", "unknown")
    assert float(tags["metric.roc_auc"]) > 0.75
    assert tags["gate.passed"] == "true"
    assert client.get_run(second.run_id).info.status == "FINISHED"


def test_run_records_params_epochs_lineage_and_a_loadable_model(
    client: MlflowClient, demo_files: tuple[Path, Path]
) -> None:
    settings = fast_settings("lineage-model")
    train, reference = demo_files
    result = run_pipeline(client, settings, train, reference)
    run = client.get_run(result.run_id)
    assert run.data.params["training.learning_rate"] == str(settings.training.learning_rate)
    assert run.data.params["data.digest"] == result.report.digest
    assert run.data.tags["slipway.env.torch"].startswith("2.13.0")
    history = client.get_metric_history(result.run_id, "val_loss")
    assert [m.step for m in history] == list(range(1, len(history) + 1))
    assert 1 <= len(history) <= settings.training.epochs
    artifacts = {a.path for a in client.list_artifacts(result.run_id)}
    assert {"validation.json", "checkpoints"} <= artifacts

    model_uri = run.data.tags["slipway.model_uri"]
    model = mlflow.pyfunc.load_model(model_uri)
    meta = model.metadata
    assert meta.signature is not None
    assert [c.name for c in meta.signature.inputs.inputs][:2] == [
        "tenure_months",
        "monthly_charges",
    ]
    assert meta.saved_input_example_info is not None
    local = Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri))
    pins = (local / "requirements.txt").read_text().split()
    assert "torch==2.13.0" in pins  # explicit, and without the local +cpu tag
    rows = synthetic.generate(20, seed=9).drop(columns=["churned"])
    predictions = model.predict(rows)
    assert list(predictions.columns) == ["prediction", "probability"]
    assert predictions["probability"].between(0, 1).all()


def test_gate_failure_registers_nothing(
    client: MlflowClient, demo_files: tuple[Path, Path]
) -> None:
    settings = fast_settings("gated-model", min_roc_auc=0.99)
    train, reference = demo_files
    result = run_pipeline(client, settings, train, reference)
    assert result.registration is None
    assert result.decision is not None and not result.decision.passed
    assert any("roc_auc" in reason for reason in result.decision.reasons)
    run = client.get_run(result.run_id)
    assert run.data.tags["gate.passed"] == "false"
    assert run.info.status == "FINISHED"
    assert client.search_model_versions("name='gated-model'") == []


def _mutations(clean: pd.DataFrame) -> dict[str, tuple[object, str]]:
    """name -> (writer of the bad file, text the error must contain)."""

    def frame(f: pd.DataFrame) -> object:
        return lambda path: tables.write_table(f, path)

    out_of_range = clean.copy()
    out_of_range.loc[5, "age"] = 250
    wrong_dtype = clean.astype({"support_calls": object})
    wrong_dtype.loc[2, "support_calls"] = "several"
    null_label = clean.astype({"churned": "float"})
    null_label.loc[4, "churned"] = None
    return {
        "missing-column": (frame(clean.drop(columns=["region"])), "region: missing"),
        "extra-column": (frame(clean.assign(customer_id=1)), "customer_id: extra"),
        "wrong-dtype": (frame(wrong_dtype), "support_calls: dtype"),
        "out-of-range": (frame(out_of_range), "age: range"),
        "null-label": (frame(null_label), "churned: label-null"),
        "empty-file": (lambda path: path.write_bytes(b""), "empty"),
        "unreadable": (lambda path: path.write_bytes(b"\x00\x01binary\xff"), "unreadable"),
    }


@pytest.mark.parametrize(
    "case",
    ["missing-column", "extra-column", "wrong-dtype", "out-of-range", "null-label",
     "empty-file", "unreadable", "truncated"],
)  # fmt: skip
def test_bad_data_never_trains(client: MlflowClient, tmp_path: Path, case: str) -> None:
    settings = fast_settings("bad-data-model")
    clean = synthetic.generate(400, seed=3)
    path = tmp_path / "data.csv"
    if case == "truncated":
        path = tmp_path / "data.parquet"
        tables.write_table(clean, path)
        path.write_bytes(path.read_bytes()[:-200])
        expected = "unreadable parquet"
    else:
        writer, expected = _mutations(clean)[case]
        assert callable(writer)
        writer(path)
    with pytest.raises(DataError, match=expected.split(":")[0]) as err:
        run_pipeline(client, settings, path)
    assert expected in str(err.value)

    experiment = client.get_experiment_by_name(settings.tracking.experiment)
    assert experiment is not None
    (run,) = client.search_runs(
        [experiment.experiment_id], order_by=["attributes.start_time DESC"], max_results=1
    )
    assert run.info.status == "FAILED"
    assert run.data.tags["slipway.data.validation"] == "failed"
    report = json.loads(
        Path(
            mlflow.artifacts.download_artifacts(f"runs:/{run.info.run_id}/validation.json")
        ).read_text()
    )
    assert report["passed"] is False
    assert "slipway.model_uri" not in run.data.tags
    assert client.search_model_versions("name='bad-data-model'") == []


def test_epoch_logger_buffers_until_its_interval_and_flush(client: MlflowClient) -> None:
    from slipway.registry.tracking import EpochLogger
    from slipway.training.trainer import EpochMetrics

    experiment = client.create_experiment("epoch-logger")
    run_id = client.create_run(experiment).info.run_id
    logger = EpochLogger(client, run_id, interval=3600)
    for epoch in (1, 2, 3):
        logger(EpochMetrics(epoch, 0.5, 0.4, 0.8, 0.1, 100))
    assert client.get_metric_history(run_id, "val_loss") == []
    logger.flush()
    assert [m.step for m in client.get_metric_history(run_id, "val_loss")] == [1, 2, 3]
    eager = EpochLogger(client, run_id, interval=0)
    eager(EpochMetrics(4, 0.5, 0.3, 0.8, 0.1, 100))
    assert [m.step for m in client.get_metric_history(run_id, "val_loss")] == [1, 2, 3, 4]
