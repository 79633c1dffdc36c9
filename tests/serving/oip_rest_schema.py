"""The Open Inference Protocol's REST surface, written down by us for the conformance test.

Read from kserve/open-inference-protocol at commit d49cc23f89d709d87b210ef9449e273ae243984e
(2025-05-11): ``specification/protocol/open_inference_rest.yaml`` (the OpenAPI document: its
paths, methods, status codes and ``components.schemas``) and
``specification/protocol/inference_rest.md`` (the API table, whose version segments are
optional, and the health objects the OpenAPI document leaves without a body). Nothing of the
upstream files is copied here: ENDPOINTS lists the operations that the two documents
define, and SCHEMAS is a JSON Schema (draft 2020-12) per response object, written from
their descriptions.

Two places where we had to decide:
- ``$ready_server_response`` is printed in the markdown as ``{"live": $bool}``, the live
  object pasted again; KServe and Triton answer ``{"ready": ...}``, and so does the schema.
- The binary tensor data extension (Triton's, which KServe implements and the protocol's
  clients use by default) lets a response output carry ``parameters.binary_data_size``
  instead of ``data``; ``response_output`` allows exactly that, and nothing else, in place
  of ``data``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

UPSTREAM = "kserve/open-inference-protocol@d49cc23f89d709d87b210ef9449e273ae243984e"

#: The datatypes of the protocol's "Tensor Data Types" table.
DATATYPES = ["BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64",
             "FP16", "FP32", "FP64", "BYTES"]  # fmt: skip


@dataclass(frozen=True)
class Endpoint:
    """One operation: method, path template (``{model}``, ``{version}``), and the response
    object of each status code the documents name for it."""

    api: str
    method: str
    path: str
    responses: dict[int, str]


_ERROR = "error_response"

#: Every operation of the documents; each path with an optional version segment appears in
#: both forms (the OpenAPI document lists the versioned ones, the markdown both).
ENDPOINTS = (
    Endpoint("Server Live", "GET", "/v2/health/live", {200: "live_server_response"}),
    Endpoint("Server Ready", "GET", "/v2/health/ready", {200: "ready_server_response"}),
    Endpoint("Server Metadata", "GET", "/v2", {200: "metadata_server_response", 400: _ERROR}),
    Endpoint("Server Metadata", "GET", "/v2/", {200: "metadata_server_response", 400: _ERROR}),
    Endpoint("Model Ready", "GET", "/v2/models/{model}/ready", {200: "ready_model_response"}),
    Endpoint(
        "Model Ready",
        "GET",
        "/v2/models/{model}/versions/{version}/ready",
        {200: "ready_model_response"},
    ),
    Endpoint(
        "Model Metadata", "GET", "/v2/models/{model}", {200: "metadata_model_response", 400: _ERROR}
    ),
    Endpoint(
        "Model Metadata",
        "GET",
        "/v2/models/{model}/versions/{version}",
        {200: "metadata_model_response", 400: _ERROR},
    ),
    Endpoint(
        "Inference", "POST", "/v2/models/{model}/infer", {200: "inference_response", 400: _ERROR}
    ),
    Endpoint(
        "Inference",
        "POST",
        "/v2/models/{model}/versions/{version}/infer",
        {200: "inference_response", 400: _ERROR},
    ),
)

_PARAMETERS = {
    "type": "object",
    "additionalProperties": {"type": ["string", "number", "boolean"]},
}
_METADATA_TENSOR = {
    "type": "object",
    "required": ["name", "datatype", "shape"],
    "properties": {
        "name": {"type": "string"},
        "datatype": {"enum": DATATYPES},
        "shape": {"type": "array", "items": {"type": "integer"}},
    },
}
#: Nested arrays of scalars (row-major, natural or flattened); every schema carries it in $defs.
_DEFS = {
    "tensor_data": {
        "type": "array",
        "items": {
            "anyOf": [{"$ref": "#/$defs/tensor_data"}, {"type": ["number", "string", "boolean"]}]
        },
    }
}
_TENSOR_DATA = {"$ref": "#/$defs/tensor_data"}
_RESPONSE_OUTPUT = {
    "type": "object",
    "required": ["name", "shape", "datatype"],
    "properties": {
        "name": {"type": "string"},
        # "representable as an unsigned 64-bit integer"
        "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
        "datatype": {"enum": DATATYPES},
        "parameters": _PARAMETERS,
        "data": _TENSOR_DATA,
    },
    "oneOf": [
        {"required": ["data"]},
        {
            "required": ["parameters"],
            "not": {"required": ["data"]},
            "properties": {
                "parameters": {
                    "required": ["binary_data_size"],
                    "properties": {"binary_data_size": {"type": "integer", "minimum": 0}},
                }
            },
        },
    ],
}

SCHEMAS: dict[str, dict[str, Any]] = {
    "live_server_response": {
        "type": "object",
        "required": ["live"],
        "properties": {"live": {"type": "boolean"}},
    },
    "ready_server_response": {
        "type": "object",
        "required": ["ready"],
        "properties": {"ready": {"type": "boolean"}},
    },
    "ready_model_response": {
        "type": "object",
        "required": ["name", "ready"],
        "properties": {"name": {"type": "string"}, "ready": {"type": "boolean"}},
    },
    "metadata_server_response": {
        "type": "object",
        "required": ["name", "version", "extensions"],
        "properties": {
            "name": {"type": "string"},
            "version": {"type": "string"},
            "extensions": {"type": "array", "items": {"type": "string"}},
        },
    },
    "metadata_model_response": {
        "type": "object",
        "required": ["name", "platform"],
        "properties": {
            "name": {"type": "string"},
            "versions": {"type": "array", "items": {"type": "string"}},
            "platform": {"type": "string"},
            "inputs": {"type": "array", "items": _METADATA_TENSOR},
            "outputs": {"type": "array", "items": _METADATA_TENSOR},
        },
    },
    "inference_response": {
        "type": "object",
        "required": ["model_name", "outputs"],
        "properties": {
            "model_name": {"type": "string"},
            "model_version": {"type": "string"},
            "id": {"type": "string"},
            "parameters": _PARAMETERS,
            "outputs": {"type": "array", "items": _RESPONSE_OUTPUT},
        },
    },
    # metadata_server_error_response, metadata_model_error_response and
    # inference_error_response are the same object.
    _ERROR: {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"type": "string", "minLength": 1}},
    },
}


def schema(name: str) -> dict[str, Any]:
    """The JSON Schema of one response object, ready for a validator."""
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **SCHEMAS[name],
            "$defs": _DEFS}  # fmt: skip


#: A body each schema must refuse: the negative fixtures of the checker.
REFUSED: dict[str, Any] = {
    "live_server_response": {"live": "yes"},
    "ready_server_response": {"live": True},
    "ready_model_response": {"ready": True},
    "metadata_server_response": {"name": "s", "version": "1", "extensions": "binary"},
    "metadata_model_response": {"name": "m", "platform": "p", "inputs": [{"name": "x"}]},
    "inference_response": {
        "model_name": "m",
        "outputs": [{"name": "y", "shape": [1], "datatype": "FP64"}],  # neither data nor size
    },
    _ERROR: {"detail": "Not Found"},  # FastAPI's own 404 body is not the error object
}
