"""Live quality: served scores joined with ground truth that arrived later.

Ground truth is a table (CSV or Parquet, a path or ``s3://``) with ``request_id``, the
contract's label column, and optionally ``row`` (the instance's index in its request; 0
when absent, for one-instance requests). Served rows without a label are left out; the
metrics are the evaluation's on the rows that have one, per task: binary accuracy,
roc_auc, f1, log_loss from the served probability; multiclass accuracy and macro F1 from
the served class (the payload keeps the predicted class's probability only, not enough
for a log loss); regression RMSE, MAE, R2 from the served value.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, f1_score

from slipway.errors import DataError
from slipway.training.evaluation import score, score_regression


@dataclass(frozen=True)
class LiveQuality:
    labelled_rows: int
    metrics: dict[str, float]


def join_labels(served: pd.DataFrame, labels: pd.DataFrame, label: str) -> pd.DataFrame:
    """The served rows that have ground truth, with the label as column ``label``."""
    missing = [c for c in ("request_id", label) if c not in labels.columns]
    if missing:
        raise DataError(f"the ground truth lacks the columns {missing} (needs request_id, {label})")
    truth = labels[["request_id", label, *(["row"] if "row" in labels.columns else [])]].copy()
    if "row" not in truth.columns:
        truth["row"] = 0
    truth["request_id"] = truth["request_id"].astype(str)
    truth["row"] = truth["row"].astype(int)
    if truth.duplicated(["request_id", "row"]).any():
        raise DataError("the ground truth has more than one label for a request id and row")
    if served.empty:
        return served.assign(**{label: pd.Series(dtype=int)})
    left = served.drop(columns=[label], errors="ignore")
    left = left.assign(request_id=left["request_id"].astype(str), row=left["row"].astype(int))
    return left.merge(truth, on=["request_id", "row"], how="inner")


def live_quality(
    served: pd.DataFrame, labels: pd.DataFrame, label: str, task: str = "binary"
) -> LiveQuality:
    joined = join_labels(served, labels, label)
    if joined.empty:
        return LiveQuality(0, {})
    truth, served_score = joined[label].to_numpy(), joined["score"].to_numpy()
    if task == "regression":
        return LiveQuality(len(joined), score_regression(truth, served_score).as_dict())
    if task == "multiclass":
        if "predicted_class" not in joined.columns:
            raise DataError("the served rows lack predicted_class: not a multiclass payload")
        predicted = joined["predicted_class"].astype(str).to_numpy()
        expected = np.asarray(truth).astype(str)
        return LiveQuality(
            len(joined),
            {
                "accuracy": float(accuracy_score(expected, predicted)),
                "macro_f1": float(f1_score(expected, predicted, average="macro")),
            },
        )
    return LiveQuality(len(joined), score(truth, served_score).as_dict())
