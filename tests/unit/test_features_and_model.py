"""Preprocessing, the network and the training loop, without any server."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from slipway.config import TrainingSettings, load_settings
from slipway.data import synthetic
from slipway.data.contract import load_contract
from slipway.errors import ModelError
from slipway.training.features import Preprocessor
from slipway.training.model_bundle import ModelBundle, find_bundle
from slipway.training.trainer import TrainResult, train

CONTRACT = load_contract(load_settings().data.contract)


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return synthetic.generate(3000, seed=4)


def test_preprocessor_standardises_and_one_hot_encodes(frame: pd.DataFrame) -> None:
    pre = Preprocessor.fit(frame, CONTRACT)
    out = pre.transform(frame)
    assert out.shape == (len(frame), 4 + 3 + 4 + 3) == (len(frame), pre.width)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[:, :4].mean(axis=0), 0, atol=1e-4)
    np.testing.assert_allclose(out[:, :4].std(axis=0), 1, atol=1e-3)
    one_hot = out[:, 4:]
    assert set(np.unique(one_hot)) == {0.0, 1.0}
    assert (one_hot.sum(axis=1) == 3).all()  # one category of each of the 3 columns
    assert pre.output_names[4:7] == ("contract=monthly", "contract=annual", "contract=two_year")


def test_unseen_category_and_null_numeric_are_handled(frame: pd.DataFrame) -> None:
    pre = Preprocessor.fit(frame, CONTRACT)
    row = frame.head(1).copy()
    row["region"] = "mars"
    row["age"] = np.nan
    out = pre.transform(row)
    region = slice(4 + 3, 4 + 3 + 4)
    assert out[0, region].sum() == 0.0
    assert out[0, 3] == pytest.approx(0.0)  # null -> training mean -> 0 after scaling


def test_preprocessor_json_round_trip(tmp_path: Path, frame: pd.DataFrame) -> None:
    pre = Preprocessor.fit(frame, CONTRACT)
    pre.save(tmp_path / "p.json")
    again = Preprocessor.load(tmp_path / "p.json")
    assert again == pre
    np.testing.assert_array_equal(again.transform(frame), pre.transform(frame))


def _fit(frame: pd.DataFrame, **overrides: object) -> tuple[Preprocessor, TrainResult]:
    settings = TrainingSettings.model_validate({"epochs": 6, "progress": False, **overrides})
    pre = Preprocessor.fit(frame, CONTRACT)
    x = pre.transform(frame)
    y = frame["churned"].to_numpy(dtype=np.float32)
    return pre, train(x[:2400], y[:2400], x[2400:], y[2400:], settings)


def test_training_is_deterministic_for_a_seed(frame: pd.DataFrame) -> None:
    _, first = _fit(frame, seed=7)
    _, second = _fit(frame, seed=7)
    _, other = _fit(frame, seed=8)
    for a, b in zip(
        first.model.state_dict().values(), second.model.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b)
    differs = any(
        not torch.equal(a, b)
        for a, b in zip(
            first.model.state_dict().values(), other.model.state_dict().values(), strict=True
        )
    )
    assert differs


def test_training_learns_and_records_history(frame: pd.DataFrame) -> None:
    _, result = _fit(frame, epochs=15, learning_rate=0.003)
    history = result.history
    assert history[-1].train_loss < history[0].train_loss
    assert max(e.val_accuracy for e in history) > 0.7
    assert result.samples_per_second > 0


def test_early_stopping_stops_and_keeps_best_weights(frame: pd.DataFrame, tmp_path: Path) -> None:
    settings = TrainingSettings(
        epochs=200,
        patience=2,
        min_delta=10.0,
        progress=False,  # no epoch can improve by 10
    )
    pre = Preprocessor.fit(frame, CONTRACT)
    x, y = pre.transform(frame), frame["churned"].to_numpy(dtype=np.float32)
    result = train(x[:2400], y[:2400], x[2400:], y[2400:], settings, checkpoint_dir=tmp_path)
    assert result.stopped_early
    assert len(result.history) == 3  # epoch 1 sets the best, then 2 epochs of patience
    assert result.best_epoch == 1
    saved = torch.load(tmp_path / "best.pt", weights_only=True)
    for key, value in result.model.state_dict().items():
        assert torch.equal(saved[key], value)


def test_bundle_round_trip_predicts_the_same(tmp_path: Path, frame: pd.DataFrame) -> None:
    pre, result = _fit(frame)
    bundle = ModelBundle(CONTRACT, pre, result.model)
    folder = bundle.save(tmp_path / "bundle")
    again = ModelBundle.load(find_bundle(folder))
    features = frame.drop(columns=["churned"]).head(50)
    np.testing.assert_allclose(again.predict_proba(features), bundle.predict_proba(features))
    predictions = again.predict_frame(features)
    assert list(predictions.columns) == ["prediction", "probability"]
    assert ((predictions.probability >= 0.5) == (predictions.prediction == 1)).all()
    with pytest.raises(ModelError, match="no slipway model bundle"):
        find_bundle(tmp_path)
