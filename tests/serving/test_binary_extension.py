"""The binary tensor data extension: bodies built byte by byte, good and bad.

The codec (slipway.serving.binary_tensors) in-process, then the same bodies over HTTP to
real predictor processes (KServe's ModelServer on loopback: the lean path and KServe's own
routes, or SLIPWAY_PREDICTOR_URL): every malformed body is a 400 with the protocol's JSON
error object naming what is wrong, never a 5xx, and the server keeps serving.
"""

from __future__ import annotations

import struct
from typing import Any

import httpx
import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from serving_support import VALID, Target, v2_body

from slipway.errors import RequestError
from slipway.serving.binary_tensors import BinaryResponse, decode_request, header_length

_FORMATS = {"FP64": "<d", "INT64": "<q"}


def _element_bytes(datatype: str, values: list[Any]) -> bytes:
    if datatype == "BYTES":
        return b"".join(struct.pack("<I", len(v.encode())) + v.encode() for v in values)
    return b"".join(struct.pack(_FORMATS[datatype], v) for v in values)


def binary_body(
    rows: list[dict[str, Any]], extra: dict[str, Any] | None = None
) -> tuple[dict[str, Any], list[bytes]]:
    """The JSON header (every input binary) and each input's bytes, for tampering."""
    header = v2_body(rows) | (extra or {})
    chunks = []
    for tensor in header["inputs"]:
        raw = _element_bytes(tensor["datatype"], tensor.pop("data"))
        tensor["parameters"] = {"binary_data_size": len(raw)}
        chunks.append(raw)
    return header, chunks


def assemble(header: dict[str, Any], chunks: list[bytes]) -> tuple[bytes, int]:
    head = orjson.dumps(header)
    return head + b"".join(chunks), len(head)


# ---------------------------------------------------------------------- the codec


def test_decode_gives_the_json_request_back() -> None:
    rows = [VALID, {**VALID, "age": 55, "region": "south"}]
    body, length = assemble(*binary_body(rows))
    decoded = decode_request(body, length)
    assert [t["data"] for t in decoded["inputs"]] == [t["data"] for t in v2_body(rows)["inputs"]]


def test_response_outputs_move_to_the_binary_part() -> None:
    header: dict[str, Any] = {"model_name": "m", "outputs": []}
    response = BinaryResponse(header)
    output = {"name": "p", "datatype": "FP64", "shape": [2]}
    header["outputs"].append(output)
    response.add(output, np.array([0.25, 0.75]))
    body, length = response.encode()
    assert orjson.loads(body[:length])["outputs"][0]["parameters"] == {"binary_data_size": 16}
    assert np.frombuffer(body[length:], "<f8").tolist() == [0.25, 0.75]


@pytest.mark.parametrize(
    ("value", "size"), [(b"x", 10), (b"-1", 10), (b"11", 10), (b"1.5", 10), (b"", 10)]
)
def test_header_length_must_fit_the_body(value: bytes, size: int) -> None:
    with pytest.raises(RequestError) as err:
        header_length(value, size)
    assert err.value.status == 400
    assert err.value.field == "inference-header-content-length"


def test_header_length_accepts_a_length_that_fits() -> None:
    assert header_length(b"10", 10) == 10
    assert header_length(b"0", 10) == 0


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_body_and_header_length_decode_or_raise_a_400(data: st.DataObject) -> None:
    """Property: whatever the bytes after a valid or broken header, and whatever the header
    length claims, decoding gives a request or a RequestError (400), nothing else."""
    header, chunks = binary_body([VALID])
    if data.draw(st.booleans()):
        k = data.draw(st.integers(0, len(header["inputs"]) - 1))
        tensor = header["inputs"][k]
        tensor[data.draw(st.sampled_from(["datatype", "shape", "parameters"]))] = data.draw(
            st.one_of(
                st.none(), st.integers(-3, 40), st.text(max_size=6),
                st.sampled_from(["BYTES", "FP16"]), st.lists(st.integers(-1, 3), max_size=3),
                st.fixed_dictionaries(
                    {"binary_data_size": st.one_of(st.integers(-2, 60), st.floats(), st.text())}
                ),
            )
        )  # fmt: skip
    body, length = assemble(header, chunks)
    if data.draw(st.booleans()):
        body = data.draw(st.binary(max_size=40)) + body[data.draw(st.integers(0, len(body))) :]
    claimed = str(data.draw(st.one_of(st.just(length), st.integers(-5, len(body) + 5)))).encode()
    refused: RequestError | None = None
    try:
        decode_request(body, header_length(claimed, len(body)))
    except RequestError as exc:
        refused = exc
    if refused is not None:
        assert refused.status == 400
        assert refused.message


# ---------------------------------------------------------------------- bad bodies


def _shrunk(header: dict[str, Any], chunks: list[bytes]) -> tuple[bytes, str | None]:
    chunks[0] = chunks[0][:-1]  # one byte short; the size still says 8
    return assemble(header, chunks)[0], None


def _size_says_less(header: dict[str, Any], chunks: list[bytes]) -> tuple[bytes, str | None]:
    header["inputs"][0]["parameters"]["binary_data_size"] = 4
    chunks[0] = chunks[0][:4]
    return assemble(header, chunks)[0], None


def _leftover(header: dict[str, Any], chunks: list[bytes]) -> tuple[bytes, str | None]:
    return assemble(header, [*chunks, b"\x00" * 8])[0], None


def _datatype(header: dict[str, Any], chunks: list[bytes]) -> tuple[bytes, str | None]:
    header["inputs"][0]["datatype"] = "FLOAT128"
    return assemble(header, chunks)[0], None


def _bf16(header: dict[str, Any], chunks: list[bytes]) -> tuple[bytes, str | None]:
    header["inputs"][0]["datatype"] = "FP32"  # the right type family, the wrong width
    return assemble(header, chunks)[0], None


def _truncated_bytes(header: dict[str, Any], chunks: list[bytes]) -> tuple[bytes, str | None]:
    k = next(i for i, t in enumerate(header["inputs"]) if t["datatype"] == "BYTES")
    chunks[k] = struct.pack("<I", 50) + b"monthly"
    header["inputs"][k]["parameters"]["binary_data_size"] = len(chunks[k])
    return assemble(header, chunks)[0], None


def _not_utf8(header: dict[str, Any], chunks: list[bytes]) -> tuple[bytes, str | None]:
    k = next(i for i, t in enumerate(header["inputs"]) if t["datatype"] == "BYTES")
    chunks[k] = struct.pack("<I", 2) + b"\xff\xfe"
    header["inputs"][k]["parameters"]["binary_data_size"] = len(chunks[k])
    return assemble(header, chunks)[0], None


def _data_and_size(header: dict[str, Any], chunks: list[bytes]) -> tuple[bytes, str | None]:
    header["inputs"][0]["data"] = [12.0]
    return assemble(header, chunks)[0], None


def _header_not_a_number(header: dict[str, Any], chunks: list[bytes]) -> tuple[bytes, str | None]:
    return assemble(header, chunks)[0], "twelve"


def _header_past_the_end(header: dict[str, Any], chunks: list[bytes]) -> tuple[bytes, str | None]:
    body, _ = assemble(header, chunks)
    return body, str(len(body) + 1)


def _header_cuts_the_json(header: dict[str, Any], chunks: list[bytes]) -> tuple[bytes, str | None]:
    body, length = assemble(header, chunks)
    return body, str(length - 3)


def _unknown_output(header: dict[str, Any], chunks: list[bytes]) -> tuple[bytes, str | None]:
    header["outputs"] = [{"name": "logits", "parameters": {"binary_data": True}}]
    return assemble(header, chunks)[0], None


def _binary_flag_not_bool(header: dict[str, Any], chunks: list[bytes]) -> tuple[bytes, str | None]:
    header["parameters"] = {"binary_data_output": "yes"}
    return assemble(header, chunks)[0], None


def _value_out_of_range(header: dict[str, Any], chunks: list[bytes]) -> tuple[bytes, str | None]:
    k = next(i for i, t in enumerate(header["inputs"]) if t["name"] == "age")
    chunks[k] = struct.pack("<q", 7)
    return assemble(header, chunks)[0], None


BAD = {
    "size mismatch: bytes short of binary_data_size": _shrunk,
    "size mismatch: binary_data_size short of the shape": _size_says_less,
    "bytes claimed by no input": _leftover,
    "unknown datatype": _datatype,
    "datatype of another width": _bf16,
    "BYTES element longer than its data": _truncated_bytes,
    "BYTES element not UTF-8": _not_utf8,
    "data and binary_data_size both": _data_and_size,
    "malformed header length": _header_not_a_number,
    "header length past the end": _header_past_the_end,
    "header length inside the JSON": _header_cuts_the_json,
    "unknown output": _unknown_output,
    "binary_data_output not a boolean": _binary_flag_not_bool,
    "value out of the contract's range": _value_out_of_range,
}


@pytest.mark.integration
@pytest.mark.parametrize("what", sorted(BAD))
def test_a_bad_binary_request_is_a_400_with_the_error_object(oip_target: Target, what: str) -> None:
    header, chunks = binary_body([VALID])
    body, length = BAD[what](header, chunks)
    if length is None:
        length = str(len(orjson.dumps(header)))
    url = f"{oip_target.url}/v2/models/{oip_target.model}/infer"
    response = httpx.post(
        url,
        content=body,
        headers={
            "Inference-Header-Content-Length": length,
            "Content-Type": "application/octet-stream",
        },
        timeout=30,
    )
    assert response.status_code == 400, response.text
    error = response.json()
    assert isinstance(error["error"], str) and error["error"]
    # ...and the server still answers the good request.
    good, good_length = assemble(*binary_body([VALID]))
    ok = httpx.post(
        url, content=good, headers={"Inference-Header-Content-Length": str(good_length)}, timeout=30
    )
    assert ok.status_code == 200, ok.text


@pytest.mark.integration
def test_a_good_binary_request_matches_the_json_one(oip_target: Target) -> None:
    rows = [VALID, {**VALID, "tenure_months": 40.0, "contract": "two_year"}]
    url = f"{oip_target.url}/v2/models/{oip_target.model}/infer"
    as_json = httpx.post(url, json=v2_body(rows), timeout=30).json()
    body, length = assemble(*binary_body(rows, {"parameters": {"binary_data_output": True}}))
    response = httpx.post(
        url, content=body, headers={"Inference-Header-Content-Length": str(length)}, timeout=30
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/octet-stream"
    size = int(response.headers["inference-header-content-length"])
    head = orjson.loads(response.content[:size])
    offset, decoded = size, {}
    for output in head["outputs"]:
        n = output["parameters"]["binary_data_size"]
        dtype = "<i8" if output["datatype"] == "INT64" else "<f8"
        decoded[output["name"]] = np.frombuffer(response.content[offset : offset + n], dtype)
        offset += n
    assert offset == len(response.content)
    expected = {o["name"]: o["data"] for o in as_json["outputs"]}
    assert decoded["prediction"].tolist() == expected["prediction"]
    assert decoded["probabilities"].tolist() == expected["probabilities"]


@pytest.mark.integration
def test_the_binary_extension_is_refused_on_v1(oip_target: Target) -> None:
    if oip_target.kserve_routes:
        pytest.skip("KServe's v1 route ignores the header")
    body = orjson.dumps({"instances": [VALID]})
    response = httpx.post(
        f"{oip_target.url}/v1/models/{oip_target.model}:predict",
        content=body,
        headers={"Inference-Header-Content-Length": str(len(body))},
        timeout=30,
    )
    assert response.status_code == 400
    assert "v2" in response.json()["error"]
