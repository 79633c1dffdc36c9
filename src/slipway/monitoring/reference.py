"""The serving version's training reference, found through lineage.

The version's run records the data it learnt from as ``mlflow.data`` inputs
(slipway.registry.datasets): the ``training`` input's source is the table that was read.
The reference is that table's feature columns, and, so that served scores can be compared
too, the version's own scores on it (the bundle's forward pass, as the predictor computes
them), per task as the predictor records them (slipway.serving.task_outputs): ``score`` is
P(positive), the predicted class's probability or the predicted value, and a multiclass
model's reference also has ``predicted_class``.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from mlflow.tracking import MlflowClient

from slipway.bundle.layout import Bundle, code_directories, find_bundle, read_bundle
from slipway.data import tables
from slipway.errors import TrackingError
from slipway.monitoring.drift import PREDICTED_CLASS, SCORE
from slipway.registry.datasets import CONTEXT_TAG, TRAINING
from slipway.serving.forward import compile_network
from slipway.serving.task_outputs import TaskOutputs


@dataclass(frozen=True)
class Reference:
    run_id: str
    source: str
    frame: pd.DataFrame  # the features, ``score``, and (multiclass) ``predicted_class``
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    task: str = "binary"


def training_source(client: MlflowClient, run_id: str) -> str:
    """The source URI of the run's ``training`` dataset input."""
    run = client.get_run(run_id)
    for dataset_input in run.inputs.dataset_inputs if run.inputs else ():
        tags = {t.key: t.value for t in dataset_input.tags}
        if tags.get(CONTEXT_TAG) == TRAINING:
            source = json.loads(dataset_input.dataset.source)
            uri = source.get("uri") or source.get("url")
            if uri:
                return str(uri)
    raise TrackingError(
        f"run {run_id} records no training dataset input: its reference cannot be found"
    )


def scores_of(bundle: Bundle, frame: pd.DataFrame, code_dirs: Sequence[Path] = ()) -> pd.DataFrame:
    """The scores the predictor would record for ``frame``'s rows: ``score``, and for a
    multiclass model ``predicted_class`` (as text, the way drift compares categories).
    ``code_dirs``: where a custom network's factory code is (the MLflow model's)."""
    names = bundle.preprocessing.input_names
    rows = [
        [None if pd.isna(v) else v for v in values]
        for values in frame[list(names)].itertuples(index=False, name=None)
    ]
    matrix = bundle.preprocessing.transform_rows(rows, constant_column=True)
    task = bundle.contract.task
    network = compile_network(bundle.spec, bundle.weights, task, code_dirs)
    raw = np.asarray(network.forward_augmented(matrix))
    outputs = TaskOutputs(bundle.contract)
    scores = pd.DataFrame({SCORE: outputs.score_values(raw)}, index=frame.index)
    if task == "multiclass":
        scores[PREDICTED_CLASS] = [str(c) for c in outputs.predicted_labels(raw).tolist()]
    return scores


def download(client: MlflowClient, model: str, version: str, folder: Path) -> Path:
    """The registered model's folder, downloaded into ``folder``."""
    import mlflow

    path = mlflow.artifacts.download_artifacts(
        artifact_uri=f"models:/{model}/{version}",
        dst_path=str(folder),
        tracking_uri=client.tracking_uri,
        registry_uri=client._registry_uri,
    )
    return Path(path)


def load_bundle(client: MlflowClient, model: str, version: str, folder: Path) -> Bundle:
    return read_bundle(find_bundle(download(client, model, version, folder)))


def for_version(client: MlflowClient, model: str, version: str) -> Reference:
    """The training reference of registered ``model`` ``version``, with its scores."""
    mv = client.get_model_version(model, version)
    run_id = str((mv.tags or {}).get("slipway.run_id") or mv.run_id)
    source = training_source(client, run_id)
    frame = tables.read_table(source)
    # Scored while the download exists: a custom network's factory code is in it.
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = download(client, model, version, Path(tmp))
        bundle = read_bundle(find_bundle(model_dir))
        features = bundle.preprocessing.input_names
        missing = [name for name in features if name not in frame.columns]
        if missing:
            raise TrackingError(f"the training data {source} lacks the features {missing}")
        reference = frame[list(features)].copy()
        reference = reference.join(scores_of(bundle, reference, code_directories(model_dir)))
    return Reference(
        run_id,
        source,
        reference,
        tuple(f.name for f in bundle.preprocessing.numeric),
        tuple(f.name for f in bundle.preprocessing.categorical),
        bundle.contract.task,
    )
