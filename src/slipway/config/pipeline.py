"""Settings of the training pipeline: data, validation, training, the gate, tracking,
tuning."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from slipway.config.base import _Section


class DataSettings(_Section):
    contract: Path = Field(
        description="Dataset contract (YAML); relative paths are resolved "
        "against the config file's folder."
    )
    train: Path | None = Field(default=None, description="Training data, CSV or Parquet.")
    reference: Path | None = Field(
        default=None, description="Reference data for distribution checks; none skips them."
    )


class ValidationSettings(_Section):
    psi_max: float = Field(0.2, gt=0, description="Largest population stability index per column.")
    ks_statistic_max: float = Field(
        0.1, gt=0, le=1, description="Largest two-sample Kolmogorov-Smirnov statistic (numeric)."
    )
    psi_bins: int = Field(10, ge=2, le=100, description="Quantile bins for numeric PSI.")


class NetworkSettings(_Section):
    """A team's own network (docs/models.md): the factory's import path and its parameters."""

    factory: str = Field(
        pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$",
        description="'package.module:function', called as factory(input_dim=, output_dim=, "
        "**params) -> torch.nn.Module; imported from sys.path and the current directory.",
    )
    params: dict[str, Any] = Field(
        default_factory=dict, description="Keyword arguments of the factory (JSON values)."
    )


class TrainingSettings(_Section):
    seed: int = Field(42, ge=0)
    network: NetworkSettings | None = Field(
        None, description="The team's own network; none: the built-in MLP (hidden_sizes, dropout)."
    )
    hidden_sizes: list[int] = Field(default_factory=lambda: [64, 32], min_length=1)
    dropout: float = Field(0.1, ge=0, lt=1)
    learning_rate: float = Field(1e-3, gt=0)
    weight_decay: float = Field(1e-4, ge=0)
    batch_size: int = Field(256, ge=1)
    epochs: int = Field(30, ge=1)
    patience: int = Field(5, ge=1, description="Epochs without validation improvement before stop.")
    min_delta: float = Field(1e-4, ge=0, description="Smallest validation-loss gain that counts.")
    validation_fraction: float = Field(0.15, gt=0, lt=0.5)
    test_fraction: float = Field(0.15, gt=0, lt=0.5)
    num_threads: int | None = Field(
        None, ge=1, description="torch intra-op threads; none: torch's."
    )
    progress: bool = Field(True, description="Show a progress bar on a terminal.")

    @model_validator(mode="after")
    def _hidden_positive(self) -> TrainingSettings:
        if any(size < 1 for size in self.hidden_sizes):
            raise ValueError("hidden_sizes must all be at least 1")
        return self


#: Each task's gate thresholds: (metric, bound): "min" the lowest value that passes,
#: "max" the highest. The metric names are the evaluation's (slipway.training.evaluation).
GATE_THRESHOLDS: dict[str, dict[str, tuple[str, str]]] = {
    "binary": {
        "min_accuracy": ("accuracy", "min"),
        "min_roc_auc": ("roc_auc", "min"),
        "min_f1": ("f1", "min"),
        "max_log_loss": ("log_loss", "max"),
    },
    "multiclass": {
        "min_accuracy": ("accuracy", "min"),
        "min_macro_f1": ("macro_f1", "min"),
        "max_log_loss": ("log_loss", "max"),
    },
    "regression": {
        "max_rmse": ("rmse", "max"),
        "max_mae": ("mae", "max"),
        "min_r2": ("r2", "min"),
    },
}


class _TaskGate(_Section):
    """One task's thresholds; ``champion_margin`` overrides the gate's for this task, one
    number for every metric or one per metric (metrics in different units: RMSE, R2)."""

    champion_margin: float | dict[str, float] | None = None

    @model_validator(mode="before")
    @classmethod
    def _known_metrics(cls, data: Any) -> Any:
        # A threshold on a metric the task does not have is a mistake worth naming as such.
        task = cls.__name__.removesuffix("Gate").lower()
        if isinstance(data, dict):
            allowed = set(GATE_THRESHOLDS[task]) | {"champion_margin"}
            unknown = sorted(set(data) - allowed)
            if unknown:
                raise ValueError(
                    f"{unknown}: not thresholds of a {task} model (its thresholds: "
                    f"{', '.join(GATE_THRESHOLDS[task])})"
                )
            _check_margins(task, data.get("champion_margin"))
        return data


def _check_margins(task: str, margin: Any) -> None:
    margins = margin if isinstance(margin, dict) else {"": margin}
    metrics = {metric for metric, _ in GATE_THRESHOLDS[task].values()}
    unknown = sorted(set(margins) - metrics - {""})
    if unknown:
        raise ValueError(
            f"champion_margin {unknown}: not metrics of a {task} model "
            f"({', '.join(sorted(metrics))})"
        )
    negative = [k or "champion_margin" for k, v in margins.items() if v is not None and v < 0]
    if negative:
        raise ValueError(f"champion_margin must not be negative ({', '.join(negative)})")


class BinaryGate(_TaskGate):
    min_accuracy: float | None = Field(None, ge=0, le=1)
    min_roc_auc: float | None = Field(None, ge=0, le=1)
    min_f1: float | None = Field(None, ge=0, le=1)
    max_log_loss: float | None = Field(None, gt=0)


class MulticlassGate(_TaskGate):
    min_accuracy: float | None = Field(0.5, ge=0, le=1)
    min_macro_f1: float | None = Field(0.4, ge=0, le=1)
    max_log_loss: float | None = Field(1.0, gt=0)


class RegressionGate(_TaskGate):
    max_rmse: float | None = Field(None, gt=0, description="In the label's unit; none: no limit.")
    max_mae: float | None = Field(None, gt=0, description="In the label's unit; none: no limit.")
    min_r2: float | None = Field(0.0, le=1, description="0 is as good as predicting the mean.")


class GateSettings(_Section):
    """The evaluation gate. The top-level thresholds are the binary task's (as before tasks
    existed); ``binary``, ``multiclass`` and ``regression`` hold each task's, a binary one
    there overriding the top-level one."""

    min_accuracy: float = Field(0.7, ge=0, le=1)
    min_roc_auc: float = Field(0.75, ge=0, le=1)
    min_f1: float = Field(0.5, ge=0, le=1)
    max_log_loss: float = Field(0.6, gt=0)
    champion_margin: float = Field(
        0.01, ge=0, description="How much worse than the champion a challenger may be, per metric."
    )
    binary: BinaryGate = Field(default_factory=BinaryGate)
    multiclass: MulticlassGate = Field(default_factory=MulticlassGate)
    regression: RegressionGate = Field(default_factory=RegressionGate)

    def thresholds(self, task: str) -> list[tuple[str, str, float]]:
        """The task's (metric, "min"|"max", bound) thresholds; unset ones are left out."""
        section: _TaskGate = getattr(self, task)
        out = []
        for key, (metric, bound) in GATE_THRESHOLDS[task].items():
            value = getattr(section, key)
            if value is None and task == "binary":
                value = getattr(self, key)
            if value is not None:
                out.append((metric, bound, float(value)))
        return out

    def margin(self, task: str, metric: str) -> float:
        """How much worse than the champion the task's ``metric`` may be."""
        own = getattr(self, task).champion_margin
        if isinstance(own, dict):
            own = own.get(metric)
        return self.champion_margin if own is None else float(own)


class TrackingSettings(_Section):
    tracking_uri: str | None = Field(
        None, description="MLflow tracking URI; none: the local stack's, when it is up."
    )
    experiment: str = "slipway"
    model_name: str = Field("churn-classifier", pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    registry_uri: str | None = None
    artifacts_destination: str | None = Field(
        None,
        pattern=r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$",
        description="The MLflow server's --artifacts-destination (s3://bucket/prefix): the "
        "rollout turns a version's proxied mlflow-artifacts: location into an s3:// storage "
        "URI under it for KServe; none: the local stack's, when its artifacts are in S3.",
    )


class TuningDimension(_Section):
    """One hyperparameter's search range: ``choices``, or ``low``..``high`` (``log`` scale)."""

    choices: list[Any] | None = Field(None, min_length=1, description="The values to try.")
    low: float | None = None
    high: float | None = None
    log: bool = Field(False, description="Sample low..high on a log scale.")
    integer: bool = Field(False, description="low..high are whole numbers.")

    @model_validator(mode="after")
    def _one_form(self) -> TuningDimension:
        ranged = self.low is not None and self.high is not None
        if (self.choices is None) == (not ranged) or (self.low is None) != (self.high is None):
            raise ValueError("give choices, or low and high (not both)")
        if ranged and not self.low < self.high:  # type: ignore[operator]
            raise ValueError(f"low {self.low} must be below high {self.high}")
        if ranged and self.log and self.low <= 0:  # type: ignore[operator]
            raise ValueError("a log range needs low > 0")
        return self


# What tuning may change: the fit, never the rows (seed and split) nor how it reports.
TUNABLE = ("hidden_sizes", "dropout", "learning_rate", "weight_decay", "batch_size", "epochs",
           "patience", "min_delta")  # fmt: skip


class TuningSettings(_Section):
    """Hyperparameter tuning: trials proposed from a search space, each a child MLflow run;
    the best trial's parameters train the model. Off unless the workflow asks for trials."""

    sampler: Literal["grid", "random", "optuna"] = Field(
        "random", description="grid: the choices' product in order; random; optuna's TPE."
    )
    seed: int = Field(0, ge=0, description="Seed of the random and optuna samplers.")
    space: dict[str, TuningDimension] = Field(
        default_factory=lambda: {
            "learning_rate": TuningDimension(low=3e-4, high=3e-2, log=True),
            "dropout": TuningDimension(choices=[0.0, 0.1, 0.2]),
        },
        description=f"Training settings to search, by name: any of {', '.join(TUNABLE)}.",
    )

    @model_validator(mode="after")
    def _tunable(self) -> TuningSettings:
        unknown = sorted(set(self.space) - set(TUNABLE))
        if unknown:
            raise ValueError(f"tuning.space {unknown}: only {', '.join(TUNABLE)} can be tuned")
        if self.sampler == "grid" and any(d.choices is None for d in self.space.values()):
            raise ValueError("the grid sampler needs choices for every dimension")
        return self
