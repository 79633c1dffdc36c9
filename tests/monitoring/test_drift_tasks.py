"""Drift's score comparison per task (real Evidently): the training reference's scores as
the predictor records them (iris multiclass, diabetes regression bundles), and a shift in the
predicted classes that the predicted class's probability alone does not show."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "serving"))

from tasks_support import IRIS_CLASSES, build_bundle

from slipway.bundle.layout import read_bundle
from slipway.config import DriftSettings
from slipway.monitoring import drift
from slipway.monitoring.reference import scores_of


def test_reference_scores_are_the_tasks_scores(tmp_path: Path) -> None:
    iris = build_bundle(tmp_path / "iris", "iris")
    frame = iris.features.head(40)
    scores = scores_of(read_bundle(iris.folder), frame)
    reference = iris.reference(frame.to_dict("records"))
    np.testing.assert_allclose(scores[drift.SCORE], reference.max(axis=1), atol=1e-6)
    assert scores[drift.PREDICTED_CLASS].tolist() == [
        IRIS_CLASSES[i] for i in reference.argmax(axis=1)
    ]
    diabetes = build_bundle(tmp_path / "diabetes", "diabetes")
    values = scores_of(read_bundle(diabetes.folder), diabetes.features.head(40))
    assert list(values.columns) == [drift.SCORE]
    expected = diabetes.reference(diabetes.features.head(40).to_dict("records"))
    np.testing.assert_allclose(values[drift.SCORE], expected, rtol=1e-6)


def test_score_columns_per_task() -> None:
    assert drift.score_columns("binary") == ((drift.SCORE,), ())
    assert drift.score_columns("regression") == ((drift.SCORE,), ())
    assert drift.score_columns("multiclass") == ((drift.SCORE,), (drift.PREDICTED_CLASS,))


def _served(rows: int, seed: int, class_weights: list[float]) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            drift.SCORE: rng.uniform(0.4, 0.95, rows),  # the same confidence throughout
            drift.PREDICTED_CLASS: rng.choice(IRIS_CLASSES, rows, p=class_weights),
        }
    )


@pytest.mark.parametrize(
    ("weights", "drifted"),
    [([0.8, 0.1, 0.1], (drift.PREDICTED_CLASS,)), ([1 / 3, 1 / 3, 1 / 3], ())],
)
def test_a_shift_between_classes_is_drift_of_the_predicted_class(
    weights: list[float], drifted: tuple[str, ...]
) -> None:
    reference = _served(1500, 1, [1 / 3, 1 / 3, 1 / 3])
    current = _served(1500, 2, weights)
    numeric, categorical = drift.score_columns("multiclass")
    report, _ = drift.compare(
        reference, current, numeric, categorical, DriftSettings(drift_share=0.5),
        model="iris", version="1",
    )  # fmt: skip
    assert report.drifted_columns == drifted
    assert report.status == ("drift" if drifted else "no_drift")
