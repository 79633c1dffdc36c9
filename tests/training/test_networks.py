"""Networks per task: the built-in MLP's output width, a team's own network built from its
factory path, and the clear errors when that path is wrong. Real torch modules throughout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from slipway.bundle.network import NetworkSpec
from slipway.config import TrainingSettings
from slipway.data.contract import DatasetContract
from slipway.errors import ModelError
from slipway.training import trainer
from slipway.training.features import Preprocessor
from slipway.training.labels import encode_labels
from slipway.training.model_bundle import ModelBundle
from slipway.training.network import build_network, import_factory, load_network

RESNET = "examples.models.resnet:build"


def _custom(factory: str, output_dim: int = 3, **params: object) -> NetworkSpec:
    return NetworkSpec(4, (), 0.0, output_dim=output_dim, kind="custom", factory=factory,
                       params=dict(params))  # fmt: skip


def test_the_builtin_mlp_has_one_output_per_class() -> None:
    net = build_network(NetworkSpec(5, (8,), 0.0, output_dim=3))
    assert net(torch.zeros(7, 5)).shape == (7, 3)
    assert build_network(NetworkSpec(5, (8,), 0.0))(torch.zeros(7, 5)).shape == (7,)


def test_the_example_custom_network_builds_with_its_params() -> None:
    net = build_network(_custom(RESNET, width=8, blocks=3))
    assert net(torch.zeros(2, 4)).shape == (2, 3)
    # Its state dict is the team's module's own (no slipway prefix), as the bundle keeps it.
    assert "stem.weight" in net.state_dict()
    assert sum(1 for k in net.state_dict() if k.endswith("norm.weight")) == 3


@pytest.mark.parametrize(
    ("factory", "params", "expected"),
    [
        ("no_such_package_xyz.models:build", {}, "cannot import no_such_package_xyz.models"),
        ("examples.models.resnet:missing", {}, "has no 'missing'"),
        ("math:pi", {}, "pi is not callable"),
        ("builtins:dict", {}, "returned dict, not a torch.nn.Module"),
        # nn.Identity takes and ignores any arguments: it gives the input's width back.
        ("torch.nn:Identity", {}, "the task needs 3"),
        (RESNET, {"depth": 2}, "refused its arguments"),
    ],
)
def test_a_bad_factory_is_a_model_error_naming_it(
    factory: str, params: dict[str, object], expected: str
) -> None:
    with pytest.raises(ModelError, match=expected) as caught:
        build_network(_custom(factory, **params))
    assert factory in str(caught.value)


def test_a_factory_path_without_a_function_is_refused() -> None:
    with pytest.raises(ModelError, match=r"package\.module:function"):
        import_factory("examples.models.resnet")


def _iris_contract() -> DatasetContract:
    return DatasetContract.model_validate({
        "name": "flowers", "label": "kind", "task": "multiclass",
        "columns": [{"name": "x", "dtype": "float"}, {"name": "y", "dtype": "float"},
                    {"name": "kind", "dtype": "category", "categories": ["a", "b", "c"]}],
    })  # fmt: skip


def _frame(rows: int = 90) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    kind = np.array(["a", "b", "c"])[np.arange(rows) % 3]
    centre = {"a": 0.0, "b": 3.0, "c": 6.0}
    x = np.array([centre[k] for k in kind]) + rng.normal(0, 0.3, rows)
    return pd.DataFrame({"x": x, "y": rng.normal(size=rows), "kind": kind})


SHORT = TrainingSettings(epochs=40, batch_size=16, learning_rate=0.02, hidden_sizes=[8],
                         dropout=0.0, progress=False, num_threads=1)  # fmt: skip


@pytest.mark.parametrize("network", [None, {"factory": RESNET, "params": {"width": 8}}])
def test_a_multiclass_bundle_answers_a_class_and_a_probability_per_class(
    network: dict[str, object] | None, tmp_path: Path
) -> None:
    contract, frame = _iris_contract(), _frame()
    settings = SHORT.model_copy(update={"network": network and SHORT.model_validate(
        {"network": network}).network})  # fmt: skip
    prep = Preprocessor.fit(frame, contract)
    x, y = prep.transform(frame), encode_labels(frame, contract)
    result = trainer.train(x, y, x, y, settings, task="multiclass", output_dim=3)
    bundle = ModelBundle(contract, prep, result.model)
    answer = bundle.predict_frame(frame)
    assert list(answer.columns) == ["prediction", "probability_a", "probability_b", "probability_c"]
    assert np.allclose(answer.filter(like="probability_").sum(axis=1), 1.0)
    assert (answer["prediction"] == frame["kind"]).mean() > 0.9
    assert result.history[-1].val_accuracy > 0.9
    # Saved and loaded (weights_only: no pickle), it answers the same.
    folder = bundle.save(tmp_path / "bundle")
    pd.testing.assert_frame_equal(ModelBundle.load(folder).predict_frame(frame), answer)
    reloaded = load_network(folder / "network.json", folder / "weights.pt")
    assert reloaded.spec == result.model.spec


def test_a_regression_bundle_answers_in_the_label_unit() -> None:
    contract = DatasetContract.model_validate({
        "name": "r", "label": "v", "task": "regression",
        "columns": [{"name": "x", "dtype": "float"},
                    {"name": "v", "dtype": "float", "min": 0, "max": 5000}],
    })  # fmt: skip
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 1, 200)
    frame = pd.DataFrame({"x": x, "v": 1000.0 + 500.0 * x})  # far from standardised
    prep = Preprocessor.fit(frame, contract)
    features, y = prep.transform(frame), encode_labels(frame, contract)
    result = trainer.train(features, y, features, y, SHORT, task="regression", output_dim=1)
    spec = result.model.spec
    assert spec.output_shift == pytest.approx(y.mean())
    assert spec.output_scale == pytest.approx(y.std())
    answer = ModelBundle(contract, prep, result.model).predict_frame(frame)
    assert list(answer.columns) == ["prediction"]
    assert answer["prediction"].dtype == np.float64
    assert np.sqrt(np.mean((answer["prediction"] - frame["v"]) ** 2)) < 30  # std of v: 144
    assert np.isnan(result.history[-1].val_accuracy)  # regression has no accuracy
