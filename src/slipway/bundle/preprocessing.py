"""The fitted preprocessing as data, and its transform of checked rows (numpy only).

Numeric columns are standardised with the training mean and standard deviation (nulls
become the mean); categorical columns are one-hot encoded in the contract's category
order (an unseen category encodes as all zeros). The fitted state is plain JSON, not a
pickle: the predictor loads it without executing anything, and applies exactly the
transform that training used. Fitting, and the same transform on pandas frames, live in
``slipway.training.features.Preprocessor``, a subclass of this one.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Self

import numpy as np

#: One checked row: values in ``input_names`` order, numbers as float, categories as str,
#: None for a null.
Row = Sequence[float | str | None]


@dataclass(frozen=True)
class NumericFeature:
    name: str
    mean: float
    std: float


@dataclass(frozen=True)
class CategoricalFeature:
    name: str
    categories: tuple[str, ...]


@dataclass(frozen=True)
class FittedPreprocessing:
    numeric: tuple[NumericFeature, ...]
    categorical: tuple[CategoricalFeature, ...]

    @property
    def input_names(self) -> tuple[str, ...]:
        """The raw features a row holds, in order: numeric ones, then categorical ones."""
        return tuple(f.name for f in self.numeric) + tuple(f.name for f in self.categorical)

    @property
    def output_names(self) -> tuple[str, ...]:
        """The columns of the transformed matrix (``name=category`` for one-hot columns)."""
        names = [f.name for f in self.numeric]
        for cat in self.categorical:
            names += [f"{cat.name}={value}" for value in cat.categories]
        return tuple(names)

    @property
    def width(self) -> int:
        return len(self.numeric) + sum(len(c.categories) for c in self.categorical)

    @cached_property
    def _row_plan(self) -> tuple[tuple[tuple[float, float], ...], tuple[dict[str, int], ...]]:
        # (mean, std) per numeric column, and per categorical column the output index of
        # each category; computed once, so that transform_rows does no lookups by name.
        offsets, offset = [], len(self.numeric)
        for cat in self.categorical:
            offsets.append({value: offset + k for k, value in enumerate(cat.categories)})
            offset += len(cat.categories)
        return tuple((f.mean, f.std) for f in self.numeric), tuple(offsets)

    def transform_rows(self, rows: Sequence[Row], constant_column: bool = False) -> np.ndarray:
        """A float32 matrix of shape (rows, width) for rows already checked against the
        contract: each row holds the values in ``input_names`` order (numbers as float,
        categories as str, None for a null).

        The arithmetic is float64 ``(x - mean) / std``, then float32: the same as the
        pandas transform in training, bit for bit (tested). ``constant_column`` appends a
        column of ones (the serving forward pass carries its biases in the weight matrices).
        """
        numeric, categorical = self._row_plan
        width, n_numeric = self.width, len(numeric)
        columns = width + 1 if constant_column else width
        matrix = []
        for row in rows:
            vector = [0.0] * columns
            if constant_column:
                vector[width] = 1.0
            for i, (mean, std) in enumerate(numeric):
                value = row[i]
                if value is not None:
                    vector[i] = (float(value) - mean) / std
            for k, index in enumerate(categorical):
                j = index.get(row[n_numeric + k])  # type: ignore[arg-type]
                if j is not None:
                    vector[j] = 1.0
            matrix.append(vector)
        return np.array(matrix, dtype=np.float32).reshape(len(matrix), columns)

    def to_dict(self) -> dict[str, Any]:
        return {
            "numeric": [asdict(f) for f in self.numeric],
            "categorical": [
                {"name": c.name, "categories": list(c.categories)} for c in self.categorical
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        return cls(
            tuple(NumericFeature(**f) for f in data["numeric"]),
            tuple(
                CategoricalFeature(c["name"], tuple(c["categories"])) for c in data["categorical"]
            ),
        )

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> Self:
        return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))
