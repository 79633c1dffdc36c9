"""Feature preprocessing fitted on training data and saved beside the model.

The fitted state and its row transform are ``slipway.bundle.preprocessing`` (numpy only,
what the predictor loads); this module adds what needs pandas: fitting on a training
frame, and the same transform over a whole frame.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from slipway.bundle.preprocessing import CategoricalFeature, FittedPreprocessing, NumericFeature
from slipway.data.contract import DatasetContract

__all__ = ["CategoricalFeature", "NumericFeature", "Preprocessor"]


class Preprocessor(FittedPreprocessing):
    """The fitted preprocessing, with fitting and the transform of pandas frames."""

    @classmethod
    def fit(cls, frame: pd.DataFrame, contract: DatasetContract) -> Preprocessor:
        numeric, categorical = [], []
        for col in contract.features:
            if col.numeric:
                values = pd.to_numeric(frame[col.name], errors="coerce").astype(float)
                std = float(values.std(ddof=0))
                numeric.append(NumericFeature(col.name, float(values.mean()), std or 1.0))
            else:
                categorical.append(CategoricalFeature(col.name, tuple(col.categories or ())))
        return cls(tuple(numeric), tuple(categorical))

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """Return a float32 matrix of shape (rows, width); ``transform_rows`` gives the same
        matrix for the same rows, bit for bit."""
        out = np.zeros((len(frame), self.width), dtype=np.float32)
        for i, feat in enumerate(self.numeric):
            values = pd.to_numeric(frame[feat.name], errors="coerce").to_numpy(dtype=float)
            values = np.where(np.isnan(values), feat.mean, values)
            out[:, i] = (values - feat.mean) / feat.std
        offset = len(self.numeric)
        for cat in self.categorical:
            codes = pd.Categorical(frame[cat.name].astype(str), categories=cat.categories).codes
            rows = np.nonzero(codes >= 0)[0]
            out[rows, offset + codes[rows]] = 1.0
            offset += len(cat.categories)
        return out
