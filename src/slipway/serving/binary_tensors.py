"""The binary tensor data extension of the Open Inference Protocol's REST API, both ways.

Common OIP clients (tritonclient's by default, KServe's InferenceRESTClient) send input
tensors as raw bytes after the JSON request: the body is the JSON header followed by each
binary input's bytes in the order of ``inputs``; the header's length is the
``Inference-Header-Content-Length`` HTTP header, and each binary input says how many bytes
are its own in ``parameters.binary_data_size`` (and has no ``data``). Responses work the same
way: the outputs asked for as binary (``parameters.binary_data`` on a requested output, or
``binary_data_output`` on the request) carry ``parameters.binary_data_size`` instead of
``data``, their bytes follow the JSON, and the response says where the JSON ends with the same
header (``Content-Type: application/octet-stream``, as Triton answers).

Elements are little-endian, row-major; a BYTES element is a 4-byte little-endian length and
that many bytes. Decoded inputs become the same flat JSON-like lists that a JSON request
carries, so one set of contract checks (request_checks.py) applies to both encodings; a body
that does not add up (a header length past the end, a size that is not the tensor's, bytes
left over, an unknown datatype) is a RequestError (400) naming the tensor, never a 5xx.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from slipway.errors import RequestError

HEADER_LENGTH = b"inference-header-content-length"
HEADER_FIELD = "inference-header-content-length"

#: The fixed-size datatypes of the protocol's table, as little-endian numpy types.
_FIXED = {
    "BOOL": np.dtype("?"),
    "UINT8": np.dtype("<u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "INT8": np.dtype("<i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
}
DATATYPES = frozenset({*_FIXED, "BYTES"})
#: The same, as struct codes: for the few elements of a request, struct.unpack costs less
#: than a numpy array and its tolist().
_STRUCT = {"BOOL": "?", "UINT8": "B", "UINT16": "H", "UINT32": "I", "UINT64": "Q",
           "INT8": "b", "INT16": "h", "INT32": "i", "INT64": "q",
           "FP16": "e", "FP32": "f", "FP64": "d"}  # fmt: skip


def header_length(value: bytes, body_size: int) -> int:
    """The JSON header's length from ``Inference-Header-Content-Length``, checked against the
    body it must fit in."""
    try:
        length = int(value)
    except ValueError:
        raise RequestError(
            400, f"{HEADER_FIELD} must be a whole number of bytes, got {value[:40]!r}", HEADER_FIELD
        ) from None
    if length < 0 or length > body_size:
        raise RequestError(
            400,
            f"{HEADER_FIELD} is {length}, but the body holds {body_size} bytes",
            HEADER_FIELD,
        )
    return length


def decode_request(body: bytes, length: int) -> Any:
    """The JSON header of a request with binary inputs, with each binary input's ``data``
    filled in (a flat list) from the bytes after the header."""
    try:
        request = orjson.loads(body[:length])
    except orjson.JSONDecodeError as exc:
        raise RequestError(400, f"invalid JSON in the inference header: {exc}", "body") from exc
    inputs = request.get("inputs") if type(request) is dict else None
    if type(inputs) is not list:
        if length != len(body):
            raise RequestError(
                400, "binary data after the header, but the header has no inputs", HEADER_FIELD
            )
        return request  # the request checks name what is wrong with it
    offset = length
    for k, tensor in enumerate(inputs):
        if type(tensor) is not dict:
            continue  # refused by the request checks, with its index
        parameters = tensor.get("parameters")
        if parameters is None:
            continue
        name = tensor.get("name")
        where = f"inputs[{k}]" + (f" ({name})" if type(name) is str else "")
        if type(parameters) is not dict:
            raise RequestError(400, f"{where}: parameters must be an object", _field(name, k))
        size = parameters.get("binary_data_size")
        if size is None:
            continue
        if type(size) is not int or size < 0:
            raise RequestError(
                400,
                f"{where}: binary_data_size must be a whole number of bytes, got {size!r}",
                _field(name, k),
            )
        if "data" in tensor:
            raise RequestError(
                400, f"{where}: both data and binary_data_size are given", _field(name, k)
            )
        if offset + size > len(body):
            raise RequestError(
                400,
                f"{where}: binary_data_size {size} runs past the end of the body "
                f"({len(body) - offset} bytes left)",
                _field(name, k),
            )
        tensor["data"] = decode_tensor(
            body[offset : offset + size], tensor.get("datatype"), tensor.get("shape"), where
        )
        offset += size
    if offset != len(body):
        raise RequestError(
            400,
            f"{len(body) - offset} bytes after the header are claimed by no input's "
            "binary_data_size",
            HEADER_FIELD,
        )
    return request


def _field(name: Any, k: int) -> str:
    return name if type(name) is str else f"inputs[{k}]"


def decode_tensor(raw: bytes, datatype: Any, shape: Any, where: str) -> list[Any]:
    """One tensor's elements from its bytes, as a flat list in row-major order."""
    if type(datatype) is not str or datatype not in DATATYPES:
        raise RequestError(400, f"{where}: unknown datatype {datatype!r}", "datatype")
    if type(shape) is not list or not all(type(d) is int and d >= 0 for d in shape):
        raise RequestError(400, f"{where}: shape must be a list of non-negative integers", "shape")
    count = math.prod(shape)
    if datatype == "BYTES":
        return _decode_bytes(raw, count, where)
    dtype = _FIXED[datatype]
    if len(raw) != count * dtype.itemsize:
        raise RequestError(
            400,
            f"{where}: {len(raw)} bytes of binary data, but shape {shape} of {datatype} "
            f"takes {count * dtype.itemsize}",
            "binary_data_size",
        )
    return list(struct.unpack(f"<{count}{_STRUCT[datatype]}", raw))


def _decode_bytes(raw: bytes, count: int, where: str) -> list[Any]:
    values: list[Any] = []
    offset, end = 0, len(raw)
    view = memoryview(raw)
    while offset < end:
        if offset + 4 > end:
            raise RequestError(
                400, f"{where}: BYTES element {len(values)} has a truncated length", "data"
            )
        size = int.from_bytes(view[offset : offset + 4], "little")
        offset += 4
        if offset + size > end:
            raise RequestError(
                400,
                f"{where}: BYTES element {len(values)} claims {size} bytes, "
                f"{end - offset} are left",
                "data",
            )
        element = bytes(view[offset : offset + size])
        offset += size
        try:
            values.append(element.decode("utf-8"))
        except UnicodeDecodeError:
            raise RequestError(
                400, f"{where}: BYTES element {len(values)} is not UTF-8 text", "data"
            ) from None
    if len(values) != count:
        raise RequestError(
            400,
            f"{where}: {len(values)} BYTES elements in the binary data, the shape holds {count}",
            "binary_data_size",
        )
    return values


@dataclass
class BinaryResponse:
    """An inference response with binary outputs: the JSON header and the bytes after it."""

    header: dict[str, Any]
    chunks: list[bytes] = field(default_factory=list)

    def add(self, output: dict[str, Any], array: np.ndarray) -> None:
        """Move ``output``'s data (``array``, of the output's datatype) into the binary part."""
        if output["datatype"] == "BYTES":  # each element: its 4-byte length, then its bytes
            raw = b"".join(
                len(b).to_bytes(4, "little") + b
                for b in (str(v).encode("utf-8") for v in array.ravel().tolist())
            )
        else:
            raw = np.ascontiguousarray(array, dtype=_FIXED[output["datatype"]]).tobytes()
        output["parameters"] = {**output.get("parameters", {}), "binary_data_size": len(raw)}
        self.chunks.append(raw)

    def encode(self) -> tuple[bytes, int]:
        """(body, length of its JSON header)."""
        head = orjson.dumps(self.header)
        return head + b"".join(self.chunks), len(head)
