"""Hyperparameter tuning as a fan-out: proposals, one trial, the best trial.

``propose`` is pure: N trials from the config's search space, by the grid (the choices'
product, in order), random draws, or Optuna's TPE sampler through its ask interface (all
trials are asked for at once, since Argo runs them in parallel; each proposal is seeded).
``run_trial`` fits the model on the pipeline's train split with one trial's parameters
and records it as a child MLflow run of the pipeline's run (``mlflow.parentRunId``),
with its best validation loss. ``best_trial`` reads the children back and picks the
lowest loss: the trials hand over through MLflow, as every step does.
"""

from __future__ import annotations

import itertools
import json
import math
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from slipway.config import Settings, TrainingSettings, TuningDimension, TuningSettings
from slipway.errors import ConfigError

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

PARENT_TAG = "mlflow.parentRunId"
TRIAL_TAG = "slipway.tuning.trial"
METRIC = "best_val_loss"


@dataclass(frozen=True)
class Trial:
    index: int
    params: dict[str, Any]

    def as_item(self) -> dict[str, str]:
        """The trial as an item of the fan-out's ``withParam`` list."""
        return {"trial": str(self.index), "params": json.dumps(self.params, sort_keys=True)}


def propose(tuning: TuningSettings, count: int) -> list[Trial]:
    """``count`` trials from the search space (the grid may have fewer points)."""
    if count < 0:
        raise ConfigError(f"tuning trials: {count} (0 or more)")
    if count == 0 or not tuning.space:
        return []
    names = sorted(tuning.space)
    if tuning.sampler == "grid":
        grid = itertools.product(*(tuning.space[n].choices or [] for n in names))
        points = [dict(zip(names, values, strict=True)) for values in grid]
        return [Trial(i, p) for i, p in enumerate(points[:count])]
    if tuning.sampler == "random":
        rng = np.random.default_rng(tuning.seed)
        return [Trial(i, {n: _draw(rng, tuning.space[n]) for n in names}) for i in range(count)]
    return _optuna(tuning, names, count)


def _draw(rng: np.random.Generator, dim: TuningDimension) -> Any:
    if dim.choices is not None:
        return _plain(dim.choices[int(rng.integers(len(dim.choices)))])
    assert dim.low is not None
    assert dim.high is not None
    if dim.log:
        value = math.exp(rng.uniform(math.log(dim.low), math.log(dim.high)))
    else:
        value = float(rng.uniform(dim.low, dim.high))
    return round(value) if dim.integer else value


def _optuna(tuning: TuningSettings, names: list[str], count: int) -> list[Trial]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    distributions: dict[str, optuna.distributions.BaseDistribution] = {}
    for name in names:
        dim = tuning.space[name]
        if dim.choices is not None:
            # Optuna's categorical choices are scalars: a list (hidden_sizes) goes as JSON.
            distributions[name] = optuna.distributions.CategoricalDistribution(
                [json.dumps(c) for c in dim.choices]
            )
        elif dim.integer:
            assert dim.low is not None
            assert dim.high is not None
            distributions[name] = optuna.distributions.IntDistribution(
                int(dim.low), int(dim.high), log=dim.log
            )
        else:
            assert dim.low is not None
            assert dim.high is not None
            distributions[name] = optuna.distributions.FloatDistribution(
                dim.low, dim.high, log=dim.log
            )
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=tuning.seed))
    trials = []
    for index in range(count):
        asked = study.ask(distributions)
        params = {
            n: json.loads(v) if tuning.space[n].choices is not None else v
            for n, v in asked.params.items()
        }
        trials.append(Trial(index, params))
    return trials


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def with_hyperparameters(settings: Settings, params: Mapping[str, Any]) -> Settings:
    """``settings`` with the training settings ``params`` changes, validated."""
    if not params:
        return settings
    try:
        training = TrainingSettings.model_validate(settings.training.model_dump() | dict(params))
    except ValueError as exc:
        raise ConfigError(f"hyperparameters {dict(params)}: {exc}") from exc
    return settings.model_copy(update={"training": training})


def parse(text: str) -> dict[str, Any]:
    """A step's ``hyperparameters`` input: a JSON object, or empty for none."""
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"hyperparameters {text!r} are not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise ConfigError(f"hyperparameters {text!r}: expected a JSON object")
    return value


def run_trial(
    client: MlflowClient,
    settings: Settings,
    parent_run_id: str,
    data: str,
    trial: int,
    params: Mapping[str, Any],
) -> float:
    """Fit with one trial's parameters; a child run of the pipeline's run; its loss."""
    from slipway.data import tables
    from slipway.data.contract import load_contract
    from slipway.pipeline.steps import split
    from slipway.registry import tracking
    from slipway.training import trainer
    from slipway.training.features import Preprocessor
    from slipway.training.labels import encode_labels

    parent = tracking.require_run(client, parent_run_id)
    tuned = with_hyperparameters(settings, params)
    contract = load_contract(tuned.data.contract)
    parts = split(tables.read_table(data), tuned, contract)
    preprocessor = Preprocessor.fit(parts.train, contract)

    def labels(frame: Any) -> np.ndarray:
        return encode_labels(frame, contract)

    child = client.create_run(
        parent.info.experiment_id,
        run_name=f"trial-{trial}",
        tags={PARENT_TAG: parent_run_id, TRIAL_TAG: str(trial)},
    )
    run_id = child.info.run_id
    try:
        tracking.log_params(client, run_id, {f"training.{k}": v for k, v in params.items()})
        with tempfile.TemporaryDirectory() as checkpoints:
            result = trainer.train(
                preprocessor.transform(parts.train), labels(parts.train),
                preprocessor.transform(parts.validation), labels(parts.validation),
                tuned.training, task=contract.task, output_dim=contract.output_width,
                device=trainer.pick_device(tuned.device),
                checkpoint_dir=Path(checkpoints),
            )  # fmt: skip
        client.log_metric(run_id, METRIC, result.best_val_loss)
        client.log_metric(run_id, "best_epoch", result.best_epoch)
    except BaseException:
        client.set_terminated(run_id, "FAILED")
        raise
    client.set_terminated(run_id, "FINISHED")
    return float(result.best_val_loss)


def best_trial(client: MlflowClient, parent_run_id: str) -> tuple[int, dict[str, Any]] | None:
    """The finished trial of the run with the lowest validation loss, and its parameters."""
    from slipway.registry import tracking

    parent = tracking.require_run(client, parent_run_id)
    children = client.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.`{PARENT_TAG}` = '{parent_run_id}' and attributes.status = 'FINISHED'",
    )
    scored = [
        (run.data.metrics[METRIC], int(run.data.tags[TRIAL_TAG]), run)
        for run in children
        if METRIC in run.data.metrics and TRIAL_TAG in run.data.tags
    ]
    if not scored:
        return None
    _, index, run = min(scored, key=lambda s: (s[0], s[1]))
    params = {
        key.removeprefix("training."): _param(value)
        for key, value in run.data.params.items()
        if key.startswith("training.")
    }
    return index, params


def _param(text: str) -> Any:
    # MLflow keeps parameters as text: numbers and lists come back through JSON.
    try:
        return json.loads(text)
    except ValueError:
        return text
