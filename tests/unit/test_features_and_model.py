"""Preprocessing, the network and the training loop, without any server."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from slipway.bundle.layout import TORCH_WEIGHTS, WEIGHTS, read_bundle
from slipway.bundle.network import NetworkSpec
from slipway.bundle.preprocessing import FittedPreprocessing
from slipway.config import TrainingSettings, load_settings
from slipway.data import synthetic
from slipway.data.contract import load_contract
from slipway.errors import ModelError
from slipway.training.features import Preprocessor
from slipway.training.model_bundle import ModelBundle, find_bundle, main, upgrade_bundle
from slipway.training.network import TabularMLP, network_from_arrays, weight_arrays
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


@pytest.mark.parametrize("hidden", [(), (4,), (16, 8), (8, 8, 8)])
def test_the_torch_network_has_the_parameters_the_spec_names(hidden: tuple[int, ...]) -> None:
    spec = NetworkSpec(11, hidden, 0.2)
    network = TabularMLP(spec)
    shapes = {name: tuple(t.shape) for name, t in network.state_dict().items()}
    assert shapes == spec.parameter_shapes()
    assert [layer.relu for layer in spec.layers()] == [True] * len(hidden) + [False]
    again = network_from_arrays(spec, weight_arrays(network))
    x = torch.randn(5, 11)
    with torch.no_grad():
        assert torch.equal(again(x), network.eval()(x))
    assert NetworkSpec.from_dict(spec.to_dict()) == spec


def test_saved_bundle_holds_the_same_weights_twice_and_reads_without_torch(
    tmp_path: Path, frame: pd.DataFrame
) -> None:
    pre = Preprocessor.fit(frame, CONTRACT)
    torch.manual_seed(3)
    network = TabularMLP(NetworkSpec(pre.width, (8,), 0.1))
    folder = ModelBundle(CONTRACT, pre, network).save(tmp_path / "b")
    state = torch.load(folder / TORCH_WEIGHTS, weights_only=True)
    plain = read_bundle(folder)
    assert plain.weights.keys() == state.keys()
    for name, tensor in state.items():
        np.testing.assert_array_equal(plain.weights[name], tensor.numpy())
    assert plain.spec == network.spec
    assert plain.contract == CONTRACT
    # The neutral preprocessing is the same data as training's, with the same row transform.
    assert type(plain.preprocessing) is FittedPreprocessing
    assert plain.preprocessing.to_dict() == pre.to_dict()
    rows = frame[list(pre.input_names)].head(20).astype(object).values.tolist()
    np.testing.assert_array_equal(
        plain.preprocessing.transform_rows(rows), pre.transform_rows(rows)
    )


def test_upgrade_adds_safetensors_to_a_bundle_saved_before_it(
    tmp_path: Path, frame: pd.DataFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    pre = Preprocessor.fit(frame, CONTRACT)
    network = TabularMLP(NetworkSpec(pre.width, (8,), 0.1))
    folder = ModelBundle(CONTRACT, pre, network).save(tmp_path / "b")
    expected = read_bundle(folder).weights
    (folder / WEIGHTS).unlink()
    with pytest.raises(ModelError, match="upgrade"):
        read_bundle(folder)
    assert find_bundle(folder) == folder  # still a bundle: MLflow's loader reads weights.pt
    main(["upgrade", str(folder)])
    assert "added weights.safetensors" in capsys.readouterr().out
    upgraded = read_bundle(folder).weights
    assert all(np.array_equal(upgraded[k], expected[k]) for k in expected)
    assert upgrade_bundle(folder) is False
    with pytest.raises(SystemExit) as exited:
        main(["upgrade", str(tmp_path / "nowhere")])
    assert exited.value.code == 1
    assert "no slipway model bundle" in capsys.readouterr().err
