"""Requested outputs and tensor encodings of v2 requests, in-process (the predictor over the
test bundle, no server): only what is asked for comes back, binary where asked, and what
cannot be answered is a 400 naming ``outputs`` or ``parameters``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from prometheus_client import CollectorRegistry
from serving_support import VALID, v2_body

from slipway.errors import RequestError
from slipway.serving.binary_tensors import BinaryResponse
from slipway.serving.predictor import OUTPUTS, V2, SlipwayPredictor
from slipway.serving.requested_outputs import OutputChoice, choose_outputs


@pytest.fixture(scope="module")
def model(bundle_dir: Path) -> SlipwayPredictor:
    m = SlipwayPredictor("churn", bundle_dir, "5", "run-y", registry=CollectorRegistry())
    m.load()
    return m


ROWS = [VALID, {**VALID, "age": 66, "contract": "two_year"}]


def test_no_outputs_named_means_every_output_as_json() -> None:
    assert choose_outputs({"inputs": []}, OUTPUTS) == ()
    assert choose_outputs({"outputs": []}, OUTPUTS) == tuple(
        OutputChoice(n, False) for n in OUTPUTS
    )
    assert choose_outputs({"parameters": {"binary_data_output": True}}, OUTPUTS) == tuple(
        OutputChoice(n, True) for n in OUTPUTS
    )


def test_each_output_may_say_its_encoding_over_the_requests_default() -> None:
    body = {
        "parameters": {"binary_data_output": True},
        "outputs": [
            {"name": "probabilities"},
            {"name": "prediction", "parameters": {"binary_data": False}},
        ],
    }
    assert choose_outputs(body, OUTPUTS) == (
        OutputChoice("probabilities", True),
        OutputChoice("prediction", False),
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"outputs": [{"name": "logits"}]}, "outputs"),
        ({"outputs": "prediction"}, "outputs"),
        ({"outputs": [{"name": 3}]}, "outputs"),
        ({"outputs": [{"name": "prediction"}, {"name": "prediction"}]}, "outputs"),
        ({"outputs": [{"name": "prediction", "parameters": []}]}, "outputs"),
        ({"outputs": [{"name": "prediction", "parameters": {"binary_data": 1}}]}, "outputs"),
        ({"outputs": [{"name": "prediction", "parameters": {"classification": 2}}]}, "outputs"),
        ({"parameters": "binary"}, "parameters"),
        ({"parameters": {"binary_data_output": "true"}}, "parameters"),
    ],
)
def test_what_cannot_be_answered_is_a_400(body: dict[str, Any], field: str) -> None:
    with pytest.raises(RequestError) as err:
        choose_outputs(body, OUTPUTS)
    assert (err.value.status, err.value.field) == (400, field)


def test_only_the_requested_output_comes_back_with_the_same_numbers(
    model: SlipwayPredictor,
) -> None:
    full = model.infer(V2, v2_body(ROWS))
    assert isinstance(full, dict)
    one = model.infer(V2, v2_body(ROWS) | {"outputs": [{"name": "probabilities"}]})
    assert isinstance(one, dict)
    assert [o["name"] for o in one["outputs"]] == ["probabilities"]
    assert one["outputs"][0] == full["outputs"][1]


def test_binary_outputs_hold_the_json_numbers(model: SlipwayPredictor) -> None:
    full = model.infer(V2, v2_body(ROWS))
    assert isinstance(full, dict)
    response = model.infer(V2, v2_body(ROWS) | {"parameters": {"binary_data_output": True}})
    assert isinstance(response, BinaryResponse)
    body, length = response.encode()
    header = orjson.loads(body[:length])
    sizes = [o["parameters"]["binary_data_size"] for o in header["outputs"]]
    assert sizes == [2 * 8, 2 * 2 * 8]
    prediction = np.frombuffer(body[length : length + sizes[0]], "<i8")
    probabilities = np.frombuffer(body[length + sizes[0] :], "<f8")
    assert prediction.tolist() == full["outputs"][0]["data"]
    assert probabilities.tolist() == full["outputs"][1]["data"]


def test_nested_column_data_is_the_flat_list(model: SlipwayPredictor) -> None:
    """The protocol allows a tensor's natural nesting: [n, 1] as n one-element lists."""
    flat = v2_body(ROWS)
    nested = v2_body(ROWS)
    for tensor in nested["inputs"]:
        tensor["data"] = [[v] for v in tensor["data"]]
        tensor["shape"] = [len(ROWS), 1]
    assert model.infer(V2, nested)["outputs"] == model.infer(V2, flat)["outputs"]  # type: ignore[index]
    nested["inputs"][0]["shape"] = [len(ROWS)]
    with pytest.raises(RequestError) as err:
        model.infer(V2, nested)
    assert err.value.status == 400
    nested["inputs"][0]["shape"] = [len(ROWS), 1]
    nested["inputs"][0]["data"] = [[1.0, 2.0], [3.0, 4.0]]
    with pytest.raises(RequestError):
        model.infer(V2, nested)
