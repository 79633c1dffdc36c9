"""Serving per task, in process: the forward passes against torch, the refusals (a network
that does not fit its task, a custom network without torch or without its factory), the
int-label wire format, the score buckets and the payload records."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from prometheus_client import CollectorRegistry
from pydantic import ValidationError
from tasks_support import FACTORY_MODULE, build_bundle

from slipway.bundle.layout import CONTRACT, read_bundle
from slipway.bundle.network import NetworkSpec
from slipway.config import PayloadSettings
from slipway.data.contract import DatasetContract, dump_contract
from slipway.errors import ModelError
from slipway.monitoring.payloads import read_folder
from slipway.serving import binary_tensors
from slipway.serving.forward import TORCH_IMAGE, compile_network, sigmoid, softmax
from slipway.serving.payload_log import PayloadLog
from slipway.serving.predictor import V1, V2, SlipwayPredictor
from slipway.serving.telemetry import SCORE_BUCKETS, VALUE_STEPS, score_buckets


def _loaded(folder: Path) -> SlipwayPredictor:
    predictor = SlipwayPredictor("m", folder, registry=CollectorRegistry())
    predictor.load()
    return predictor


def test_softmax_and_sigmoid_stay_finite_for_huge_logits() -> None:
    logits = np.array([[1e4, 0.0, -1e4], [-1e30, -1e30, -1e30], [3.0, 1.0, 0.2]])
    probabilities = softmax(logits)
    assert np.isfinite(probabilities).all()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
    np.testing.assert_allclose(probabilities[0], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(probabilities[1], [1 / 3] * 3)
    expected = torch.softmax(torch.tensor(logits[2:]), dim=1).numpy()
    np.testing.assert_allclose(probabilities[2:], expected, atol=1e-15)
    np.testing.assert_allclose(sigmoid(np.array([-1e4, 0.0, 1e4])), [0.0, 0.5, 1.0], atol=1e-300)


@pytest.mark.parametrize("kind", ["iris", "diabetes"])
@pytest.mark.parametrize("batch", [1, 50])
def test_numpy_forward_per_task_equals_torch(tmp_path: Path, kind: str, batch: int) -> None:
    bundle = build_bundle(tmp_path / kind, kind)  # type: ignore[arg-type]
    predictor = _loaded(bundle.folder)
    rows = bundle.rows(batch)
    _, scores = predictor.predict_rows(predictor.validator.rows_v1({"instances": rows}))
    assert scores.shape == bundle.reference(rows).shape
    np.testing.assert_allclose(scores, bundle.reference(rows), rtol=1e-6, atol=1e-6)


def test_a_network_that_does_not_fit_its_task_is_refused(tmp_path: Path) -> None:
    bundle = build_bundle(tmp_path / "iris", "iris")
    plain = read_bundle(bundle.folder)
    with pytest.raises(ModelError, match="one output"):
        compile_network(plain.spec, plain.weights, "binary")
    with pytest.raises(ModelError, match="one output"):
        compile_network(plain.spec, plain.weights, "regression")
    # The bundle's network (3 outputs) against a contract with 4 classes: refused at read
    # time, naming both widths.
    contract = bundle.contract
    four = ("setosa", "versicolor", "virginica", "hybrid")
    label = contract.column("species").model_copy(update={"categories": four})
    columns = tuple(label if c.name == "species" else c for c in contract.columns)
    wider = DatasetContract.model_validate(
        {**contract.model_dump(), "columns": columns, "classes": four}
    )
    (bundle.folder / CONTRACT).write_text(dump_contract(wider), encoding="utf-8")
    with pytest.raises(ModelError, match=r"network has 3 outputs.*multiclass task needs 4"):
        read_bundle(bundle.folder)
    regression = build_bundle(tmp_path / "diabetes", "diabetes")
    one = read_bundle(regression.folder)
    with pytest.raises(ModelError, match="2 or more outputs"):
        compile_network(one.spec, one.weights, "multiclass")


def test_int_labels_are_int64_on_the_wire(tmp_path: Path) -> None:
    bundle = build_bundle(tmp_path / "iris-int", "iris-int")
    predictor = _loaded(bundle.folder)
    rows = bundle.rows(6)
    expected = bundle.reference(rows).argmax(axis=1).tolist()
    v1 = predictor.infer(V1, {"instances": rows})
    assert isinstance(v1, dict)
    assert [p["prediction"] for p in v1["predictions"]] == expected
    body = {
        "inputs": [
            {"name": n, "datatype": "FP64", "shape": [6], "data": [r[n] for r in rows]}
            for n in rows[0]
        ],
        "parameters": {"binary_data_output": True},
    }
    response = predictor.infer(V2, body)
    assert isinstance(response, binary_tensors.BinaryResponse)
    prediction = response.header["outputs"][0]
    assert prediction["datatype"] == "INT64"
    raw = response.chunks[0]
    assert binary_tensors.decode_tensor(raw, "INT64", [6], "prediction") == expected


def test_bytes_outputs_round_trip_through_the_binary_encoding() -> None:
    response = binary_tensors.BinaryResponse({"outputs": []})
    output = {"name": "prediction", "datatype": "BYTES", "shape": [3]}
    response.add(output, np.array(["setosa", "virginica", "é"], dtype=object))
    raw = response.chunks[0]
    assert output["parameters"] == {"binary_data_size": len(raw)}
    decoded = binary_tensors.decode_tensor(raw, "BYTES", [3], "prediction")
    assert decoded == ["setosa", "virginica", "é"]


def test_score_buckets_follow_the_task(tmp_path: Path) -> None:
    iris = build_bundle(tmp_path / "iris", "iris")
    assert score_buckets(iris.contract) == SCORE_BUCKETS
    diabetes = build_bundle(tmp_path / "diabetes", "diabetes")
    buckets = score_buckets(diabetes.contract)
    assert len(buckets) == VALUE_STEPS + 1
    assert (buckets[0], buckets[-1]) == (25.0, 346.0)


def test_a_regression_label_without_a_range_is_refused() -> None:
    """The buckets must be the same for every version of a model (the rollout compares
    them bucket by bucket), so they come from the contract, which must declare them."""
    columns = [{"name": "x", "dtype": "float"}, {"name": "v", "dtype": "float", "min": 0}]
    with pytest.raises(ValidationError, match="regression label needs min and max"):
        DatasetContract.model_validate(
            {"name": "r", "label": "v", "task": "regression", "columns": columns}
        )


def test_a_custom_network_without_torch_names_the_image_to_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = build_bundle(tmp_path / "custom", "iris", custom=True)
    monkeypatch.setitem(sys.modules, "torch", None)  # what the predictor image has
    with pytest.raises(ModelError, match="torch") as error:
        SlipwayPredictor("m", bundle.folder, registry=CollectorRegistry()).load()
    assert TORCH_IMAGE in str(error.value)
    assert f"{FACTORY_MODULE}:build" in str(error.value)


def test_a_custom_network_needs_its_factory_and_matching_weights(tmp_path: Path) -> None:
    bundle = build_bundle(tmp_path / "custom", "iris", custom=True)
    plain = read_bundle(bundle.folder)
    missing = NetworkSpec(
        plain.spec.input_dim, (), 0.0, output_dim=3, kind="custom", factory="no_such_mod:build"
    )
    with pytest.raises(ModelError, match="no_such_mod:build cannot be imported"):
        compile_network(missing, plain.weights, "multiclass")
    narrower = NetworkSpec(
        plain.spec.input_dim, (), 0.0, output_dim=3, kind="custom",
        factory=plain.spec.factory, params={"width": 8},
    )  # fmt: skip
    with pytest.raises(ModelError, match="do not fit the custom network"):
        compile_network(narrower, plain.weights, "multiclass")
    # And the one that fits runs through torch.
    assert _loaded(bundle.folder).forward_kind == "torch"


def test_payload_records_carry_the_predicted_class(tmp_path: Path) -> None:
    bundle = build_bundle(tmp_path / "iris", "iris")
    predictor = _loaded(bundle.folder)
    settings = PayloadSettings(sample_rate=1.0, directory=tmp_path / "payloads")
    predictor.payload_log = PayloadLog("iris", "1", predictor.preprocessor.input_names, settings)
    rows = bundle.rows(5)
    predictor.infer(V1, {"instances": rows})
    predictor.payload_log.close()
    frame = read_folder(tmp_path / "payloads", "iris", "1")
    reference = bundle.reference(rows)
    assert frame["predicted_class"].tolist() == [bundle.labels[i] for i in reference.argmax(axis=1)]
    np.testing.assert_allclose(frame["score"], reference.max(axis=1), atol=1e-6)
