"""The training pipeline's steps: validate-data -> train -> evaluate -> register.

Each step is a function of plain values (data URIs, a run id) so that it runs the same way in
one process (``slipway demo``, ``slipway pipeline run``) or as separate Argo Workflows
steps; steps hand over through the MLflow run, never through memory. The split of the
data into train, validation and test rows is a function of the seed, so a later step
recomputes exactly the rows an earlier one used.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow.entities import RunStatus
from mlflow.tracking import MlflowClient

from slipway.config import Settings
from slipway.data import tables
from slipway.data.contract import DatasetContract, load_contract
from slipway.data.storage import DataLocation, DataUri
from slipway.data.validation import Finding, ValidationReport, validate
from slipway.errors import DataError, TrackingError
from slipway.registry import aliases, datasets, tracking
from slipway.registry.model_version import NETWORK_TAG
from slipway.training import distributed, evaluation, trainer
from slipway.training.features import Preprocessor
from slipway.training.labels import encode_labels
from slipway.training.model_bundle import ModelBundle

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Split:
    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame


def split(
    frame: pd.DataFrame, settings: Settings, contract: DatasetContract | None = None
) -> Split:
    """Test, validation and train rows, a function of the seed. A classification contract
    makes it stratified (each part keeps the label's class shares, so a rare class is in
    every part); regression, or no contract, a plain permutation."""
    n_test = max(1, round(len(frame) * settings.training.test_fraction))
    n_val = max(1, round(len(frame) * settings.training.validation_fraction))
    if contract is not None and contract.task != "regression":
        order = stratified_order(encode_labels(frame, contract), settings.training.seed)
    else:
        order = np.random.default_rng(settings.training.seed).permutation(len(frame))
    test, val, train = np.split(order, [n_test, n_test + n_val])
    if len(train) < 2:
        raise DataError(f"too few rows to train: {len(frame)} in total")
    return Split(frame.iloc[train], frame.iloc[val], frame.iloc[test])


def stratified_order(labels: np.ndarray, seed: int) -> np.ndarray:
    """A permutation of the rows whose every prefix has the classes in about their shares
    of the whole: each class's rows, shuffled, are spread evenly over (0, 1) and the rows
    sorted by that position. Cutting it anywhere (test | validation | train) stratifies."""
    rng = np.random.default_rng(seed)
    position = np.empty(len(labels), dtype=float)
    for value in np.unique(labels):
        rows = np.flatnonzero(labels == value)
        rows = rows[rng.permutation(len(rows))]
        # Evenly spaced with a random phase per class, so classes interleave.
        position[rows] = (np.arange(len(rows)) + rng.uniform()) / len(rows)
    return np.argsort(position, kind="stable")


@dataclass(frozen=True)
class ValidateOutcome:
    run_id: str
    report: ValidationReport


def validate_step(
    client: MlflowClient, settings: Settings, data: DataUri, reference: DataUri | None = None
) -> ValidateOutcome:
    """Open the pipeline's MLflow run and validate ``data`` (a path or an ``s3://`` URI);
    bad or unreachable data ends the run FAILED. Runs that an earlier pipeline left RUNNING
    when it was killed are ended FAILED first."""
    for abandoned in tracking.fail_abandoned_runs(client, settings.tracking.experiment):
        log.warning("run %s was abandoned by a killed pipeline: ended FAILED", abandoned)
    run_id = tracking.start_run(client, settings.tracking.experiment, run_name="train")
    with tracking.step_owner(client, run_id, "validate"):
        return _validate(client, settings, run_id, data, reference)


def _validate(
    client: MlflowClient, settings: Settings, run_id: str, data: DataUri, reference: DataUri | None
) -> ValidateOutcome:
    client.set_tag(run_id, "slipway.data.path", str(data))
    try:
        location = DataLocation.parse(data)
        client.set_tag(run_id, "mlflow.runName", f"train-{location.stem}")
        contract = load_contract(settings.data.contract)
        frame = tables.read_table(data)
        digest = tables.table_digest(frame)
        ref_frame = tables.read_table(reference) if reference else None
    except DataError as exc:
        client.set_tag(run_id, "slipway.data.validation", "failed")
        unreadable = ValidationReport(0, "unknown", [Finding("<file>", "unreadable", str(exc))])
        tracking.log_json(client, run_id, unreadable.to_json(), "validation.json")
        client.set_terminated(run_id, RunStatus.to_string(RunStatus.FAILED))
        raise
    report = validate(frame, contract, settings.validation, digest, ref_frame)
    client.set_tag(run_id, "slipway.data.digest", digest)
    client.log_param(run_id, "data.digest", digest)
    client.log_param(run_id, "data.rows", len(frame))
    if reference is not None and ref_frame is not None:
        client.set_tag(run_id, "slipway.reference.digest", tables.table_digest(ref_frame))
    tracking.log_json(client, run_id, report.to_json(), "validation.json")
    tracking.log_json(client, run_id, report.to_table(), "validation.txt")
    client.set_tag(run_id, "slipway.data.validation", "passed" if report.passed else "failed")
    if not report.passed:
        client.set_terminated(run_id, RunStatus.to_string(RunStatus.FAILED))
    return ValidateOutcome(run_id, report)


def train_step(client: MlflowClient, settings: Settings, run_id: str, data: DataUri) -> str | None:
    """Fit preprocessing and the network on the train split; log them as the run's model.

    Under torchrun every rank runs this step and trains its shard; only rank 0 writes to
    MLflow, and only rank 0 returns the model URI (the others return None).
    """
    tracking.require_run(client, run_id)
    rank, _ = distributed.init_from_env()
    if rank != 0:
        return _train(client, settings, run_id, data)
    with tracking.step_owner(client, run_id, "train"):
        return _train(client, settings, run_id, data)


def _train(client: MlflowClient, settings: Settings, run_id: str, data: DataUri) -> str | None:
    rank, world = distributed.init_from_env()
    contract = load_contract(settings.data.contract)
    parts = split(tables.read_table(data), settings, contract)
    preprocessor = Preprocessor.fit(parts.train, contract)
    if rank == 0:
        tracking.log_params(
            client,
            run_id,
            {f"training.{k}": v for k, v in settings.training.model_dump().items()}
            | {
                "split.train": len(parts.train),
                "split.validation": len(parts.validation),
                "split.test": len(parts.test),
                "training.world_size": world,
            },
        )

    epoch_logger = tracking.EpochLogger(client, run_id)
    with tempfile.TemporaryDirectory() as checkpoints:
        result = trainer.train(
            preprocessor.transform(parts.train), encode_labels(parts.train, contract),
            preprocessor.transform(parts.validation), encode_labels(parts.validation, contract),
            settings.training, task=contract.task, output_dim=contract.output_width,
            device=trainer.pick_device(settings.device),
            checkpoint_dir=Path(checkpoints),
            on_epoch=epoch_logger,
        )  # fmt: skip
        if rank == 0:
            client.log_artifact(run_id, str(Path(checkpoints) / "best.pt"), "checkpoints")
            epoch_logger.flush()
    distributed.shutdown()
    if rank != 0:
        return None
    client.log_metric(run_id, "best_epoch", result.best_epoch)
    client.log_metric(run_id, "train_samples_per_second", result.samples_per_second)
    client.set_tag(run_id, "slipway.stopped_early", str(result.stopped_early).lower())
    bundle = ModelBundle(contract, preprocessor, result.model)
    model_uri = tracking.log_model(run_id, bundle, parts.train)
    client.set_tag(run_id, NETWORK_TAG, bundle.network.spec.kind)
    datasets.log_splits(
        client, run_id, DataLocation.parse(data), contract.label,
        {
            "train": (parts.train, datasets.TRAINING),
            "validation": (parts.validation, datasets.VALIDATION),
        },
        model_id=datasets.model_id_of(model_uri),
    )  # fmt: skip
    return model_uri


def evaluate_step(
    client: MlflowClient, settings: Settings, run_id: str, data: DataUri
) -> evaluation.GateDecision:
    """Score the run's model and the current champion on the same held-out rows; gate."""
    tracking.require_run(client, run_id)
    with tracking.step_owner(client, run_id, "evaluate"):
        return _evaluate(client, settings, run_id, data)


def _evaluate(
    client: MlflowClient, settings: Settings, run_id: str, data: DataUri
) -> evaluation.GateDecision:
    contract = load_contract(settings.data.contract)
    test = split(tables.read_table(data), settings, contract).test
    y = encode_labels(test, contract)
    features = test[[c.name for c in contract.features]]

    def scored(model_uri: str) -> evaluation.TaskMetrics:
        predictions = mlflow.pyfunc.load_model(model_uri).predict(features)
        return evaluation.score_predictions(contract, y, predictions)

    model_uri = tracking.model_uri_of(client, run_id)
    challenger = scored(model_uri)
    name = settings.tracking.model_name
    champion_version = aliases.version_by_alias(client, name, aliases.CHAMPION)
    champion = (
        scored(f"models:/{name}/{champion_version.version}")
        if champion_version is not None
        else None
    )
    decision = evaluation.apply_gate(challenger, champion, settings.gate)
    model_id = datasets.model_id_of(model_uri)
    held_out = datasets.log_splits(
        client, run_id, DataLocation.parse(data), contract.label,
        {"test": (test, datasets.EVALUATION)}, model_id=model_id,
    )["test"]  # fmt: skip
    for key, value in challenger.as_dict().items():
        # Linked to the rows and the model they score (MLflow 3 shows both with the metric).
        client.log_metric(
            run_id, f"test_{key}", value,
            dataset_name=held_out.name, dataset_digest=held_out.digest, model_id=model_id,
        )  # fmt: skip
    for key, tag in decision.as_tags().items():
        client.set_tag(run_id, key, tag)
    if champion_version is not None:
        client.set_tag(run_id, "gate.champion.version", str(champion_version.version))
    return decision


def decision_of(client: MlflowClient, run_id: str) -> evaluation.GateDecision:
    return evaluation.decision_from_tags(tracking.require_run(client, run_id).data.tags)


def register_step(
    client: MlflowClient, settings: Settings, run_id: str, decision: evaluation.GateDecision
) -> aliases.Registration | None:
    """Register the run's model when the gate passed; end the run either way."""
    with tracking.step_owner(client, run_id, "register"):
        return _register(client, settings, run_id, decision)


def _register(
    client: MlflowClient, settings: Settings, run_id: str, decision: evaluation.GateDecision
) -> aliases.Registration | None:
    if not decision.passed:
        client.set_terminated(run_id, RunStatus.to_string(RunStatus.FINISHED))
        return None
    run = tracking.require_run(client, run_id)
    tags = {
        "slipway.run_id": run_id,
        "slipway.data.digest": run.data.tags.get("slipway.data.digest", "unknown"),
        "slipway.git_commit": run.data.tags.get("slipway.git_commit", "unknown"),
        # What the model needs to be served (slipway.rollout picks the image by it).
        NETWORK_TAG: run.data.tags.get(NETWORK_TAG, "mlp"),
        **{f"metric.{k}": f"{v:.6f}" for k, v in decision.challenger.as_dict().items()},
        **decision.as_tags(),
    }
    registration = aliases.register(
        client,
        settings.tracking.model_name,
        tracking.model_uri_of(client, run_id),
        tags,
    )
    client.set_tag(run_id, "slipway.registered_version", registration.version)
    client.set_terminated(run_id, RunStatus.to_string(RunStatus.FINISHED))
    return registration


@dataclass(frozen=True)
class PipelineResult:
    run_id: str
    report: ValidationReport
    decision: evaluation.GateDecision | None
    registration: aliases.Registration | None


def run_pipeline(
    client: MlflowClient, settings: Settings, data: DataUri, reference: DataUri | None = None
) -> PipelineResult:
    """All four steps in one process. Raises DataError on bad data, after recording it."""
    outcome = validate_step(client, settings, data, reference)
    if not outcome.report.passed:
        raise DataError("data validation failed: " + "; ".join(outcome.report.failures))
    run_id = outcome.run_id
    try:
        train_step(client, settings, run_id, data)
        decision = evaluate_step(client, settings, run_id, data)
        registration = register_step(client, settings, run_id, decision)
    except BaseException as exc:
        ended = tracking.end_run(client, run_id, RunStatus.to_string(RunStatus.FAILED))
        if tracking.unreachable(exc):
            raise TrackingError(
                f"MLflow at {client.tracking_uri} did not answer (each call retried with "
                f"backoff): {str(exc)[:300]}; run {run_id} "
                + (
                    "ended FAILED"
                    if ended
                    else "could not be ended: the next pipeline run ends it FAILED"
                )
            ) from exc
        raise
    return PipelineResult(run_id, outcome.report, decision, registration)
