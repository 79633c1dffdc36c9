"""The data a run used, recorded the MLflow way: ``mlflow.data`` datasets as run inputs.

MLflow's Datasets panel (and ``run.inputs.dataset_inputs``) shows each split the run used:
its name, digest, source URI (the local path or the ``s3://`` object the step read), schema
and context (``training``, ``validation``, ``evaluation``). The test metrics are logged
against the evaluation dataset and the logged model, so MLflow 3 links the three.

MLflow limits a dataset digest to 36 characters: the dataset's digest is the first 32 hex
digits of slipway's ``table_digest`` of the split (so one is a prefix of the other), and
the full value rides along as the input tag ``slipway.data.digest``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import pandas as pd
from mlflow.data.pandas_dataset import from_pandas
from mlflow.entities import Dataset, DatasetInput, InputTag, LoggedModelInput
from mlflow.tracking import MlflowClient

from slipway.data import tables
from slipway.data.storage import DataLocation

CONTEXT_TAG = "mlflow.data.context"  # the tag MLflow's UI reads the context from
DIGEST_TAG = "slipway.data.digest"
MLFLOW_DIGEST_LENGTH = 32

TRAINING, VALIDATION, EVALUATION = "training", "validation", "evaluation"


@dataclass(frozen=True)
class RecordedDataset:
    """What a metric needs to point at its dataset."""

    name: str
    digest: str


def _dataset_input(
    frame: pd.DataFrame, location: DataLocation, split: str, context: str, target: str
) -> tuple[DatasetInput, RecordedDataset]:
    full = tables.table_digest(frame)
    short = full.removeprefix("sha256:")[:MLFLOW_DIGEST_LENGTH]
    name = f"{location.stem}-{split}"
    with warnings.catch_warnings():
        # MLflow hints that int columns cannot hold nulls; the contract already says so.
        warnings.filterwarnings("ignore", message=".*integer column", category=UserWarning)
        # Two registered sources both read a local path; MLflow picks the local one, as meant.
        warnings.filterwarnings("ignore", message=".*multiple ways", category=UserWarning)
        dataset = from_pandas(
            frame.reset_index(drop=True),
            source=location.source_uri,
            targets=target,
            name=name,
            digest=short,
        )
        entity = Dataset(**dataset.to_dict())  # the schema and profile are computed here
    tags = [InputTag(CONTEXT_TAG, context), InputTag(DIGEST_TAG, full)]
    return DatasetInput(entity, tags), RecordedDataset(name, short)


def log_splits(
    client: MlflowClient,
    run_id: str,
    location: DataLocation,
    target: str,
    splits: dict[str, tuple[pd.DataFrame, str]],
    model_id: str | None = None,
) -> dict[str, RecordedDataset]:
    """Log each ``split name -> (rows, context)`` as a dataset input of ``run_id`` (with the
    logged model as a model input when given); returns what the metrics refer to."""
    inputs, recorded = [], {}
    for split, (frame, context) in splits.items():
        dataset_input, recorded[split] = _dataset_input(frame, location, split, context, target)
        inputs.append(dataset_input)
    models = [LoggedModelInput(model_id)] if model_id else None
    client.log_inputs(run_id, datasets=inputs, models=models)
    return recorded


def model_id_of(model_uri: str) -> str | None:
    """The LoggedModel id of an MLflow 3 model URI (``models:/m-...``), if it is one."""
    tail = model_uri.removeprefix("models:/")
    return tail if tail != model_uri and tail.startswith("m-") and "/" not in tail else None
