"""A real Open Inference Protocol client against the predictor: tritonclient's HTTP client
with its defaults (inputs set with ``set_data_from_numpy`` go as binary data after the JSON
header, with ``Inference-Header-Content-Length``; outputs come back binary unless asked
otherwise).

The predictor is a real process (KServe's ModelServer on a loopback port, the lean path
and KServe's own routes, over the test bundle), or the server that ``SLIPWAY_PREDICTOR_URL``
names (``SLIPWAY_PREDICTOR_MODEL`` its model): the image tests point it at a container.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest
import tritonclient.http as triton
from serving_support import VALID, Target, v2_body
from tritonclient.utils import InferenceServerException

pytestmark = pytest.mark.integration

_ROWS = [
    VALID,
    {**VALID, "tenure_months": 1.0, "monthly_charges": 110.0, "contract": "annual", "age": 71},
    {**VALID, "support_calls": 9, "region": "south", "payment_method": "bank"},
]
_NUMERIC = {"tenure_months": np.float64, "monthly_charges": np.float64,
            "support_calls": np.int64, "age": np.int64}  # fmt: skip


@pytest.fixture(scope="module")
def client(oip_target: Target) -> Iterator[triton.InferenceServerClient]:
    url = oip_target.url.removeprefix("http://")
    http = triton.InferenceServerClient(url=url)
    yield http
    http.close()


@pytest.fixture(scope="module")
def reference(oip_target: Target) -> dict[str, list[Any]]:
    """The same rows as a plain JSON v2 request: what the binary answers must equal."""
    response = httpx.post(
        f"{oip_target.url}/v2/models/{oip_target.model}/infer", json=v2_body(_ROWS), timeout=30
    )
    assert response.status_code == 200, response.text
    return {o["name"]: o["data"] for o in response.json()["outputs"]}


def _inputs(rows: list[dict[str, Any]], binary: bool = True) -> list[triton.InferInput]:
    inputs = []
    for name in VALID:
        values = [row[name] for row in rows]
        if name in _NUMERIC:
            array = np.array(values, dtype=_NUMERIC[name])
            datatype = "FP64" if array.dtype == np.float64 else "INT64"
        else:
            array = np.array([v.encode() for v in values], dtype=np.object_)
            datatype = "BYTES"
        tensor = triton.InferInput(name, list(array.shape), datatype)
        tensor.set_data_from_numpy(array, binary_data=binary)
        inputs.append(tensor)
    return inputs


def test_health_and_metadata(client: triton.InferenceServerClient, oip_target: Target) -> None:
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready(oip_target.model)
    assert client.is_model_ready(oip_target.model, model_version=oip_target.version)
    assert not client.is_model_ready(oip_target.model, model_version="999")
    assert not client.is_model_ready("no-such-model")
    server = client.get_server_metadata()
    assert "binary_tensor_data" in server["extensions"]
    for version in ("", oip_target.version):
        meta = client.get_model_metadata(oip_target.model, model_version=version)
        assert meta["name"] == oip_target.model
        assert meta["versions"] == [oip_target.version]
        assert [i["name"] for i in meta["inputs"]] == list(VALID)
        assert [o["name"] for o in meta["outputs"]] == ["prediction", "probabilities"]
    with pytest.raises(InferenceServerException) as err:
        client.get_model_metadata(oip_target.model, model_version="999")
    assert err.value.status() == "404"
    assert "999" in err.value.message()


def test_binary_inputs_and_outputs_by_default(
    client: triton.InferenceServerClient, oip_target: Target, reference: dict[str, list[Any]]
) -> None:
    result = client.infer(oip_target.model, _inputs(_ROWS), request_id="tc-1")
    response = result.get_response()
    assert response["id"] == "tc-1"
    assert response["model_version"] == oip_target.version
    # Both outputs came back in the binary part (no "data" in the JSON header).
    for output in response["outputs"]:
        assert "data" not in output
        assert output["parameters"]["binary_data_size"] > 0
    prediction = result.as_numpy("prediction")
    probabilities = result.as_numpy("probabilities")
    assert prediction.dtype == np.int64
    assert prediction.tolist() == reference["prediction"]
    assert probabilities.shape == (3, 2)
    np.testing.assert_array_equal(probabilities.ravel(), reference["probabilities"])


def test_versioned_infer_with_json_inputs_and_outputs(
    client: triton.InferenceServerClient, oip_target: Target, reference: dict[str, list[Any]]
) -> None:
    result = client.infer(
        oip_target.model,
        _inputs(_ROWS, binary=False),
        model_version=oip_target.version,
        outputs=[triton.InferRequestedOutput(n, binary_data=False) for n in ("prediction",
                                                                          "probabilities")],
    )  # fmt: skip
    outputs = {o["name"]: o for o in result.get_response()["outputs"]}
    assert outputs["prediction"]["data"] == reference["prediction"]
    assert outputs["probabilities"]["data"] == reference["probabilities"]
    assert result.as_numpy("prediction").tolist() == reference["prediction"]


def test_only_the_requested_outputs_come_back(
    client: triton.InferenceServerClient, oip_target: Target, reference: dict[str, list[Any]]
) -> None:
    binary = client.infer(
        oip_target.model, _inputs(_ROWS), outputs=[triton.InferRequestedOutput("probabilities")]
    )
    assert [o["name"] for o in binary.get_response()["outputs"]] == ["probabilities"]
    assert binary.as_numpy("prediction") is None
    np.testing.assert_array_equal(
        binary.as_numpy("probabilities").ravel(), reference["probabilities"]
    )
    mixed = client.infer(
        oip_target.model,
        _inputs(_ROWS),
        outputs=[
            triton.InferRequestedOutput("prediction", binary_data=False),
            triton.InferRequestedOutput("probabilities", binary_data=True),
        ],
    )
    outputs = {o["name"]: o for o in mixed.get_response()["outputs"]}
    assert outputs["prediction"]["data"] == reference["prediction"]
    assert "data" not in outputs["probabilities"]
    np.testing.assert_array_equal(
        mixed.as_numpy("probabilities").ravel(), reference["probabilities"]
    )


def test_client_errors_are_400s_with_the_message(
    client: triton.InferenceServerClient, oip_target: Target
) -> None:
    with pytest.raises(InferenceServerException) as unknown_output:
        client.infer(
            oip_target.model, _inputs(_ROWS), outputs=[triton.InferRequestedOutput("logits")]
        )
    assert unknown_output.value.status() == "400"
    assert "logits" in unknown_output.value.message()
    with pytest.raises(InferenceServerException) as out_of_range:
        client.infer(oip_target.model, _inputs([{**VALID, "age": 7}]))
    assert out_of_range.value.status() == "400"
    assert "age" in out_of_range.value.message()
