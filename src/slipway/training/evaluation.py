"""Held-out metrics and the evaluation gate.

The metrics follow the contract's task: binary accuracy, ROC AUC, F1 and log loss;
multiclass accuracy, macro F1 and log loss; regression RMSE, MAE and R2.

The gate is a pure decision: a challenger passes when it meets every absolute threshold
of its task and is not worse than the current champion (scored on the same held-out
rows) by more than the configured margin on any metric: lower for accuracy-like metrics,
higher for loss-like ones (log loss, RMSE, MAE).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import ClassVar

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from slipway.config import GateSettings
from slipway.data.contract import DatasetContract
from slipway.errors import ModelError, TrackingError


@dataclass(frozen=True)
class Metrics:
    """A binary classifier's metrics (threshold 0.5 on the positive-class probability)."""

    accuracy: float
    roc_auc: float
    f1: float
    log_loss: float

    TASK: ClassVar[str] = "binary"

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class MulticlassMetrics:
    """A K-class classifier's metrics (the predicted class is the most probable)."""

    accuracy: float
    macro_f1: float
    log_loss: float

    TASK: ClassVar[str] = "multiclass"

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class RegressionMetrics:
    """A regressor's metrics, in the label's unit (R2 has none)."""

    rmse: float
    mae: float
    r2: float

    TASK: ClassVar[str] = "regression"

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


TaskMetrics = Metrics | MulticlassMetrics | RegressionMetrics
_KINDS: dict[str, type[TaskMetrics]] = {
    "binary": Metrics,
    "multiclass": MulticlassMetrics,
    "regression": RegressionMetrics,
}

# Which way is better, per metric: +1 higher (accuracy-like), -1 lower (loss-like).
_DIRECTION = {
    "accuracy": 1, "roc_auc": 1, "f1": 1, "macro_f1": 1, "r2": 1,
    "log_loss": -1, "rmse": -1, "mae": -1,
}  # fmt: skip


def score(y_true: np.ndarray, probability: np.ndarray) -> Metrics:
    """Metrics of positive-class probabilities against 0/1 labels (threshold 0.5)."""
    y_true = np.asarray(y_true).astype(int)
    probability = np.clip(np.asarray(probability, dtype=float), 1e-7, 1 - 1e-7)
    predicted = (probability >= 0.5).astype(int)
    both_classes = len(np.unique(y_true)) == 2
    return Metrics(
        accuracy=float(skm.accuracy_score(y_true, predicted)),
        roc_auc=float(skm.roc_auc_score(y_true, probability)) if both_classes else float("nan"),
        f1=float(skm.f1_score(y_true, predicted, zero_division=0)),
        log_loss=float(skm.log_loss(y_true, probability, labels=[0, 1])),
    )


def score_multiclass(y_true: np.ndarray, probabilities: np.ndarray) -> MulticlassMetrics:
    """Metrics of per-class probabilities (rows, K) against class indices 0..K-1."""
    y_true = np.asarray(y_true).astype(int)
    probabilities = np.asarray(probabilities, dtype=float)
    classes = list(range(probabilities.shape[1]))
    # Renormalised after clipping, so log loss stays finite for a confident wrong answer.
    clipped = np.clip(probabilities, 1e-7, 1.0)
    clipped /= clipped.sum(axis=1, keepdims=True)
    predicted = probabilities.argmax(axis=1)
    return MulticlassMetrics(
        accuracy=float(skm.accuracy_score(y_true, predicted)),
        macro_f1=float(
            skm.f1_score(y_true, predicted, labels=classes, average="macro", zero_division=0)
        ),
        log_loss=float(skm.log_loss(y_true, clipped, labels=classes)),
    )


def score_regression(y_true: np.ndarray, predicted: np.ndarray) -> RegressionMetrics:
    """Metrics of predicted values against the true ones."""
    y_true = np.asarray(y_true, dtype=float)
    predicted = np.asarray(predicted, dtype=float)
    return RegressionMetrics(
        rmse=float(np.sqrt(skm.mean_squared_error(y_true, predicted))),
        mae=float(skm.mean_absolute_error(y_true, predicted)),
        r2=float(skm.r2_score(y_true, predicted)) if len(y_true) > 1 else float("nan"),
    )


@dataclass(frozen=True)
class GateDecision:
    passed: bool
    challenger: TaskMetrics
    champion: TaskMetrics | None
    reasons: tuple[str, ...] = field(default_factory=tuple)

    def as_tags(self) -> dict[str, str]:
        tags = {
            "gate.task": self.challenger.TASK,
            "gate.passed": str(self.passed).lower(),
            "gate.reasons": "; ".join(self.reasons) or "-",
        }
        tags |= {f"gate.challenger.{k}": f"{v:.6f}" for k, v in self.challenger.as_dict().items()}
        if self.champion is not None:
            tags |= {f"gate.champion.{k}": f"{v:.6f}" for k, v in self.champion.as_dict().items()}
        return tags


def decision_from_tags(tags: dict[str, str]) -> GateDecision:
    """Rebuild a decision recorded by ``GateDecision.as_tags`` (e.g. on an MLflow run)."""
    if "gate.passed" not in tags:
        raise TrackingError("no gate decision recorded (run the evaluate step first)")

    # A decision recorded before tasks existed is a binary one.
    kind = _KINDS.get(tags.get("gate.task", "binary"))
    if kind is None:
        raise TrackingError(f"the gate decision names an unknown task {tags['gate.task']!r}")

    def metrics(prefix: str) -> TaskMetrics | None:
        # Only the metric fields: other tags may share the prefix (gate.champion.version).
        values = {f.name: tags.get(prefix + f.name) for f in fields(kind)}
        if all(v is None for v in values.values()):
            return None
        missing = sorted(name for name, v in values.items() if v is None)
        if missing:
            raise TrackingError(f"the gate decision lacks {prefix}{', '.join(missing)}")
        return kind(**{name: float(str(v)) for name, v in values.items()})

    challenger = metrics("gate.challenger.")
    if challenger is None:
        raise TrackingError("the gate decision has no challenger metrics")
    reasons = tags.get("gate.reasons", "-")
    return GateDecision(
        tags["gate.passed"] == "true",
        challenger,
        metrics("gate.champion."),
        tuple(r for r in reasons.split("; ") if r and r != "-"),
    )


def apply_gate(
    challenger: TaskMetrics, champion: TaskMetrics | None, gate: GateSettings
) -> GateDecision:
    """Pass when every threshold of the challenger's task holds and, with a champion, no
    metric is worse than the champion's by more than the task's margin (lower for
    accuracy-like metrics, higher for loss-like ones: RMSE, MAE, log loss)."""
    task = challenger.TASK
    if champion is not None and task != champion.TASK:
        raise TrackingError(f"cannot compare a {task} challenger with a {champion.TASK} champion")
    values = challenger.as_dict()
    reasons: list[str] = []
    for name, bound, limit in gate.thresholds(task):
        value = values[name]
        # Written so that NaN fails.
        if bound == "min" and not value >= limit:
            reasons.append(f"{name} {value:.4f} below minimum {limit:g}")
        if bound == "max" and not value <= limit:
            reasons.append(f"{name} {value:.4f} above maximum {limit:g}")
    if champion is not None:
        theirs_all = champion.as_dict()
        for name, mine in values.items():
            theirs, margin = theirs_all[name], gate.margin(task, name)
            if _DIRECTION[name] * (mine - theirs) < -margin:
                reasons.append(
                    f"{name} {mine:.4f} worse than champion {theirs:.4f} by more than {margin:g}"
                )
    return GateDecision(not reasons, challenger, champion, tuple(reasons))


def score_predictions(
    contract: DatasetContract, y: np.ndarray, predictions: pd.DataFrame
) -> TaskMetrics:
    """The task's metrics of a model's answer (``ModelBundle.predict_frame``'s columns)
    against the encoded labels (slipway.training.labels)."""
    if contract.task == "regression":
        return score_regression(y, _column(predictions, "prediction"))
    if contract.task == "multiclass":
        names = [f"probability_{c}" for c in contract.class_labels]
        return score_multiclass(y, np.column_stack([_column(predictions, n) for n in names]))
    return score(y, _column(predictions, "probability"))


def _column(predictions: pd.DataFrame, name: str) -> np.ndarray:
    if name not in predictions.columns:
        raise ModelError(
            f"the model's predictions lack {name!r} (they have {list(predictions.columns)}): "
            "was it trained for another task?"
        )
    return np.asarray(predictions[name], dtype=float)
