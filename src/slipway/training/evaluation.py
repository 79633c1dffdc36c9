"""Held-out metrics and the evaluation gate.

The gate is a pure decision: a challenger passes when it meets every absolute threshold
and is not worse than the current champion (scored on the same held-out rows) by more
than the configured margin on any metric.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from sklearn import metrics as skm

from slipway.config import GateSettings
from slipway.errors import TrackingError


@dataclass(frozen=True)
class Metrics:
    accuracy: float
    roc_auc: float
    f1: float
    log_loss: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


# Which way is better, per metric: +1 higher, -1 lower.
_DIRECTION = {"accuracy": 1, "roc_auc": 1, "f1": 1, "log_loss": -1}


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


@dataclass(frozen=True)
class GateDecision:
    passed: bool
    challenger: Metrics
    champion: Metrics | None
    reasons: tuple[str, ...] = field(default_factory=tuple)

    def as_tags(self) -> dict[str, str]:
        tags = {
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

    def metrics(prefix: str) -> Metrics | None:
        # Only the metric fields: other tags may share the prefix (gate.champion.version).
        values = {name: tags.get(prefix + name) for name in _DIRECTION}
        if all(v is None for v in values.values()):
            return None
        missing = sorted(name for name, v in values.items() if v is None)
        if missing:
            raise TrackingError(f"the gate decision lacks {prefix}{', '.join(missing)}")
        return Metrics(**{name: float(str(v)) for name, v in values.items()})

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


def apply_gate(challenger: Metrics, champion: Metrics | None, gate: GateSettings) -> GateDecision:
    reasons: list[str] = []
    floors = {
        "accuracy": gate.min_accuracy,
        "roc_auc": gate.min_roc_auc,
        "f1": gate.min_f1,
    }
    for name, floor in floors.items():
        value = getattr(challenger, name)
        if not value >= floor:  # written so that NaN fails
            reasons.append(f"{name} {value:.4f} below minimum {floor:g}")
    if not challenger.log_loss <= gate.max_log_loss:
        reasons.append(f"log_loss {challenger.log_loss:.4f} above maximum {gate.max_log_loss:g}")
    if champion is not None:
        for name, direction in _DIRECTION.items():
            mine, theirs = getattr(challenger, name), getattr(champion, name)
            if direction * (mine - theirs) < -gate.champion_margin:
                reasons.append(
                    f"{name} {mine:.4f} worse than champion {theirs:.4f} by more than "
                    f"{gate.champion_margin:g}"
                )
    return GateDecision(not reasons, challenger, champion, tuple(reasons))
