"""Live quality: served scores joined with ground truth that arrived later.

Ground truth is a table (CSV or Parquet, a path or ``s3://``) with ``request_id``, the
contract's label column, and optionally ``row`` (the instance's index in its request; 0
when absent, for one-instance requests). Served rows without a label are left out; the
metrics are the evaluation's (accuracy, roc_auc, f1, log_loss) on the rows that have one.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from slipway.errors import DataError
from slipway.training.evaluation import score


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


def live_quality(served: pd.DataFrame, labels: pd.DataFrame, label: str) -> LiveQuality:
    joined = join_labels(served, labels, label)
    if joined.empty:
        return LiveQuality(0, {})
    metrics = score(joined[label].to_numpy(), joined["score"].to_numpy())
    return LiveQuality(len(joined), metrics.as_dict())
