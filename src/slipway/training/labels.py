"""The label column as the network learns it, per task.

binary: 1.0 for the positive class, else 0.0; multiclass: the class's index in the
contract's ``classes`` (the network's output order); regression: the value itself.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from slipway.data.contract import DatasetContract
from slipway.errors import DataError


def encode_labels(frame: pd.DataFrame, contract: DatasetContract) -> np.ndarray:
    """The label of every row of ``frame``; DataError for a class the contract lacks."""
    values = frame[contract.label]
    if contract.task == "binary":
        positive: np.ndarray = values.to_numpy() == contract.positive_class
        return positive.astype(np.float32)
    if contract.task == "regression":
        return pd.to_numeric(values, errors="raise").to_numpy(dtype=np.float64)
    # Compared as text, so an int label read as 1 or "1" or 1.0 finds its class "1".
    texts = values.map(_as_text)
    classes = [str(c) for c in contract.class_labels]
    codes = pd.Categorical(texts, categories=classes).codes
    if (codes < 0).any():
        bad = sorted(set(texts[codes < 0]))[:5]
        raise DataError(f"label {contract.label!r}: {bad} are not among the classes {classes}")
    return codes.astype(np.int64)


def _as_text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
