"""The predictor's parts without a server: request checks, fast preprocessing, the numpy
forward pass and the feature statistics, each against the slow reference it replaces
(the tests may import torch and pandas; the predictor does not), and how it loads bundles
old and new."""

from __future__ import annotations

import math
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from slipway.bundle.layout import TORCH_WEIGHTS, UPGRADE_COMMAND, WEIGHTS, read_bundle
from slipway.bundle.network import NetworkSpec
from slipway.bundle.weights import load_weights, save_weights
from slipway.data.synthetic import generate
from slipway.errors import ModelError, RequestError
from slipway.serving.forward import compile_network
from slipway.serving.predictor import V1, V2, SlipwayPredictor
from slipway.serving.request_checks import ContractRefusal, RequestValidator
from slipway.training.model_bundle import ModelBundle, upgrade_bundle
from slipway.training.network import TabularMLP

VALID: dict[str, Any] = {
    "tenure_months": 12.0,
    "monthly_charges": 70.5,
    "support_calls": 2,
    "age": 40,
    "contract": "monthly",
    "region": "north",
    "payment_method": "card",
}


@pytest.fixture(scope="module")
def bundle(bundle_dir: Path) -> ModelBundle:
    return ModelBundle.load(bundle_dir)


@pytest.fixture(scope="module")
def validator(bundle: ModelBundle) -> RequestValidator:
    return RequestValidator(bundle.contract, bundle.preprocessor, max_batch_size=8)


@pytest.fixture(scope="module")
def model(bundle_dir: Path) -> SlipwayPredictor:
    m = SlipwayPredictor(
        "churn", bundle_dir, "7", "run-x", max_batch_size=8, registry=CollectorRegistry()
    )
    m.load()
    return m


def _with(**changes: Any) -> dict[str, Any]:
    row = dict(VALID)
    for key, value in changes.items():
        if value is _DROP:
            row.pop(key)
        else:
            row[key] = value
    return row


_DROP = object()

BAD_V1 = [
    # (body, status, field)
    ([VALID], 400, "body"),
    ({"inputs": [VALID]}, 400, "instances"),
    ({"instances": VALID}, 400, "instances"),
    ({"instances": []}, 400, "instances"),
    ({"instances": [VALID] * 9}, 413, "instances"),
    ({"instances": [42]}, 400, "instances[0]"),
    ({"instances": [[1, 2, 3]]}, 400, "instances[0]"),
    ({"instances": [_with(age=_DROP)]}, 400, "age"),
    ({"instances": [_with(colour="red")]}, 400, "colour"),
    ({"instances": [_with(age="forty")]}, 400, "age"),
    ({"instances": [_with(age=True)]}, 400, "age"),
    ({"instances": [_with(age=40.5)]}, 400, "age"),
    ({"instances": [_with(age=17)]}, 400, "age"),
    ({"instances": [_with(tenure_months=121.0)]}, 400, "tenure_months"),
    ({"instances": [_with(tenure_months=None)]}, 400, "tenure_months"),
    ({"instances": [_with(monthly_charges=math.inf)]}, 400, "monthly_charges"),
    ({"instances": [_with(monthly_charges=math.nan)]}, 400, "monthly_charges"),
    ({"instances": [_with(contract="weekly")]}, 400, "contract"),
    ({"instances": [_with(contract=3)]}, 400, "contract"),
    ({"instances": [_with(region=["north"])]}, 400, "region"),
    ({"instances": [VALID, _with(payment_method="cash")]}, 400, "payment_method"),
]


@pytest.mark.parametrize(("body", "status", "field"), BAD_V1)
def test_bad_v1_requests_name_the_field(
    validator: RequestValidator, body: Any, status: int, field: str
) -> None:
    with pytest.raises(RequestError) as caught:
        validator.rows_v1(body)
    assert caught.value.status == status
    assert caught.value.field == field
    assert field.split("[")[0] in caught.value.message or field == "body"


def test_instances_as_objects_and_as_lists_agree(validator: RequestValidator) -> None:
    positional = [VALID[name] for name in validator.positional]
    assert validator.rows_v1({"instances": [VALID]}) == validator.rows_v1(
        {"instances": [positional]}
    )
    # JSON clients send whole numbers as 40.0 as often as 40: both are an int feature's value.
    assert validator.rows_v1({"instances": [_with(age=40.0)]}) == validator.rows_v1(
        {"instances": [VALID]}
    )


def _v2(rows: list[dict[str, Any]], **override: Any) -> dict[str, Any]:
    types = {"tenure_months": "FP64", "monthly_charges": "FP32", "support_calls": "INT64",
             "age": "INT32"}  # fmt: skip
    inputs = [
        {
            "name": n,
            "datatype": types.get(n, "BYTES"),
            "shape": [len(rows)],
            "data": [r[n] for r in rows],
        }
        for n in VALID
    ]
    for name, change in override.items():
        for tensor in inputs:
            if tensor["name"] == name:
                tensor.update(change)
    return {"inputs": inputs}


def test_v2_tensors_give_the_same_rows_as_v1(validator: RequestValidator) -> None:
    rows = [VALID, _with(age=60, contract="annual")]
    assert validator.rows_v2(_v2(rows)) == validator.rows_v1({"instances": rows})


BAD_V2 = [
    ({"inputs": []}, 400, "inputs"),
    ({"inputs": "x"}, 400, "inputs"),
    (_v2([VALID], age={"datatype": "BYTES"}), 400, "age"),
    (_v2([VALID], contract={"datatype": "FP32"}), 400, "contract"),
    (_v2([VALID], age={"datatype": ["INT64"]}), 400, "age"),  # unhashable: was a TypeError
    (_v2([VALID], age={"shape": [2]}), 400, "age"),
    (_v2([VALID], age={"shape": [True]}), 400, "age"),  # true == 1: found by the fuzz
    (_v2([VALID], age={"shape": [1, True]}), 400, "age"),
    (_v2([VALID], age={"parameters": []}), 400, "parameters"),  # typed: an object
    (_v2([VALID], age={"data": [40, 41], "shape": [2]}), 400, "age"),
    (_v2([VALID], age={"name": "height"}), 400, "height"),
    (_v2([VALID], contract={"name": "region"}), 400, "region"),
    (_v2([VALID], age={"data": [200]}), 400, "age"),
    (_v2([VALID], region={"data": ["mars"]}), 400, "region"),
    (_v2([VALID] * 9), 413, "inputs"),
]


@pytest.mark.parametrize(("body", "status", "field"), BAD_V2)
def test_bad_v2_requests_name_the_field(
    validator: RequestValidator, body: Any, status: int, field: str
) -> None:
    with pytest.raises(RequestError) as caught:
        validator.rows_v2(body)
    assert (caught.value.status, caught.value.field) == (status, field)


def test_fast_preprocessing_equals_the_pandas_transform(
    bundle: ModelBundle, validator: RequestValidator
) -> None:
    frame = generate(300, seed=11)
    instances = frame[[c.name for c in bundle.contract.features]].to_dict("records")
    rows = validator.rows_v1({"instances": instances[:8]})
    expected = bundle.preprocessor.transform(pd.DataFrame(instances[:8]))
    assert np.array_equal(bundle.preprocessor.transform_rows(rows), expected)


def _torch_probabilities(network: TabularMLP, x: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        return torch.sigmoid(network.eval()(torch.from_numpy(x)).double()).numpy()


@pytest.mark.parametrize("hidden", [(16, 8), (), (5,), (32, 16, 8)])
def test_numpy_forward_from_safetensors_equals_the_torch_network(
    tmp_path: Path, bundle: ModelBundle, rng: np.random.Generator, hidden: tuple[int, ...]
) -> None:
    torch.manual_seed(len(hidden))
    network = TabularMLP(NetworkSpec(bundle.preprocessor.width, hidden, 0.3))
    saved = ModelBundle(bundle.contract, bundle.preprocessor, network).save(tmp_path / "b")
    plain = read_bundle(saved)
    compiled = compile_network(plain.spec, plain.weights)
    x = rng.normal(size=(64, bundle.preprocessor.width)).astype(np.float32)
    np.testing.assert_allclose(compiled(x), _torch_probabilities(network, x), rtol=0, atol=1e-6)
    np.testing.assert_allclose(
        compiled(x[:1]), _torch_probabilities(network, x[:1]), rtol=0, atol=1e-6
    )


def test_weights_that_do_not_fit_the_spec_are_refused(bundle_dir: Path, tmp_path: Path) -> None:
    plain = read_bundle(bundle_dir)
    for name, change in [
        ("missing", lambda w: w.pop("net.0.bias")),
        ("extra", lambda w: w.__setitem__("net.9.weight", np.zeros((1, 1), np.float32))),
        ("shape", lambda w: w.__setitem__("net.0.bias", np.zeros(3, np.float32))),
        ("dtype", lambda w: w.__setitem__("net.0.bias", w["net.0.bias"].astype(np.float64))),
    ]:
        weights = dict(plain.weights)
        change(weights)
        with pytest.raises(ModelError, match=r"net|spec"):
            compile_network(plain.spec, weights)
        folder = tmp_path / name
        shutil.copytree(bundle_dir, folder)
        save_weights(weights, folder / WEIGHTS)
        with pytest.raises(ModelError, match=re.escape(WEIGHTS)):
            SlipwayPredictor("churn", folder, registry=CollectorRegistry()).load()
    garbage = tmp_path / "garbage"
    shutil.copytree(bundle_dir, garbage)
    (garbage / WEIGHTS).write_bytes(b"not safetensors at all")
    with pytest.raises(ModelError, match="cannot read the weights"):
        SlipwayPredictor("churn", garbage, registry=CollectorRegistry()).load()


def test_a_bundle_without_safetensors_is_refused_until_upgraded(
    bundle_dir: Path, bundle: ModelBundle, tmp_path: Path
) -> None:
    legacy = tmp_path / "legacy"
    shutil.copytree(bundle_dir, legacy)
    (legacy / WEIGHTS).unlink()  # what bundles saved before weights.safetensors hold
    refused = SlipwayPredictor("churn", legacy, registry=CollectorRegistry())
    with pytest.raises(ModelError) as caught:
        refused.load()
    message = str(caught.value)
    assert TORCH_WEIGHTS in message
    assert WEIGHTS in message
    assert f"{UPGRADE_COMMAND} {legacy}" in message
    assert not refused.ready

    # The command the message names, as a user runs it.
    command = [sys.executable, "-m", *UPGRADE_COMMAND.split()[2:], str(legacy)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    assert "added weights.safetensors" in done.stdout
    assert not upgrade_bundle(legacy)  # a second run changes nothing

    upgraded = SlipwayPredictor("churn", legacy, registry=CollectorRegistry())
    assert upgraded.load()
    frame = generate(8, seed=9)[[c.name for c in bundle.contract.features]]
    got = upgraded.infer(V1, {"instances": frame.to_dict("records")})["predictions"]
    np.testing.assert_allclose(
        [p["probabilities"][1] for p in got], bundle.predict_proba(frame), atol=1e-6
    )
    original = load_weights(bundle_dir / WEIGHTS)
    again = load_weights(legacy / WEIGHTS)
    assert original.keys() == again.keys()
    assert all(np.array_equal(original[k], again[k]) for k in original)


def test_value_refusals_name_the_contract_rule(validator: RequestValidator) -> None:
    cases = [
        (_with(age=None), "not-null"),
        (_with(age="forty"), "dtype"),
        (_with(age=40.5), "dtype"),
        (_with(age=17), "range"),
        (_with(monthly_charges=math.inf), "finite"),
        (_with(region="mars"), "category"),
        (_with(region=3), "dtype"),
    ]
    for instance, rule in cases:
        with pytest.raises(ContractRefusal) as caught:
            validator.rows_v1({"instances": [instance]})
        assert caught.value.rule == rule, instance
        assert caught.value.status == 400


def test_the_predictor_imports_neither_torch_nor_training_code() -> None:
    probe = (
        "import sys, slipway.serving.predictor, slipway.serving.gateway; "
        "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.') "
        "or m.startswith('slipway.training')))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    # Without KServe (which imports pandas itself), slipway's own serving code has no pandas.
    probe = (
        "import sys, slipway.serving.request_checks, slipway.serving.forward, "
        "slipway.serving.telemetry, slipway.bundle.layout; "
        "print(sorted(m for m in ('torch', 'pandas', 'slipway.training') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_model_predictions_equal_the_bundles_own(
    model: SlipwayPredictor, bundle: ModelBundle
) -> None:
    frame = generate(8, seed=5)[[c.name for c in bundle.contract.features]]
    response = model.infer(V1, {"instances": frame.to_dict("records")})
    expected = bundle.predict_frame(frame)
    got = response["predictions"]
    assert [p["prediction"] for p in got] == expected["prediction"].tolist()
    np.testing.assert_allclose(
        [p["probabilities"][1] for p in got], expected["probability"], atol=1e-6
    )
    assert all(abs(sum(p["probabilities"]) - 1) < 1e-9 for p in got)


def test_v2_response_always_has_an_id(model: SlipwayPredictor) -> None:
    without = model.infer(V2, _v2([VALID]))
    assert isinstance(without["id"], str)
    assert without["id"]
    assert model.infer(V2, {**_v2([VALID]), "id": "req-1"})["id"] == "req-1"
    assert without["model_version"] == "7"
    with pytest.raises(RequestError):
        model.infer(V2, {**_v2([VALID]), "id": 5})


def test_feature_statistics_are_in_raw_units(bundle_dir: Path) -> None:
    registry = CollectorRegistry()
    m = SlipwayPredictor("churn", bundle_dir, "3", "r", registry=registry)
    m.load()  # load() predicts one example row to warm up; count from a clean baseline
    before = _samples(registry)
    rows = [_with(age=30, contract="annual"), _with(age=50, contract="annual")]
    m.infer(V1, {"instances": rows})
    after = _samples(registry)

    def delta(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after[key] - before.get(key, 0.0)

    base = {"model_name": "churn", "model_version": "3"}
    assert delta("slipway_feature_value_count", **base, feature="age") == 2
    assert delta("slipway_feature_value_sum", **base, feature="age") == pytest.approx(80)
    assert (
        delta("slipway_feature_category_total", **base, feature="contract", category="annual") == 2
    )
    assert delta("slipway_prediction_score_count", **base) == 2


def _samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out
