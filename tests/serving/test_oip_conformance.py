"""Conformance with the Open Inference Protocol's REST surface (oip_rest_schema.py: the
operations and response objects of the published OpenAPI document, as JSON Schemas of ours).

Every operation is called on a real predictor process (KServe's ModelServer on a loopback
port; the lean path and KServe's own routes, or the server SLIPWAY_PREDICTOR_URL names):
for the served model and version, another version, another model, and bad requests; each
answer's status is the expected one and its body validates against the schema of the
response object for that status.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import jsonschema
import pytest
from oip_rest_schema import ENDPOINTS, REFUSED, SCHEMAS, Endpoint, schema
from serving_support import VALID, Target, v2_body

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Case:
    """One call of an endpoint and what must come back."""

    endpoint: Endpoint
    what: str
    status: int
    object: str
    model: str | None = None  # None: the served one
    version: str | None = None
    body: Any = None

    @property
    def id(self) -> str:
        return f"{self.endpoint.method} {self.endpoint.path} [{self.what}]"


_INFER_OK = v2_body([VALID, VALID])
_BAD_BODIES = {
    "unknown feature": {"inputs": [{"name": "x", "datatype": "FP64", "shape": [1], "data": [1]}]},
    "unknown datatype": v2_body([VALID])
    | {"inputs": [dict(t, datatype="FLOAT128") for t in v2_body([VALID])["inputs"]]},
    "unknown output": _INFER_OK | {"outputs": [{"name": "logits"}]},
    "outputs not a list": _INFER_OK | {"outputs": "probabilities"},
}


def _cases() -> list[Case]:
    cases: list[Case] = []
    for ep in ENDPOINTS:
        body = _INFER_OK if ep.method == "POST" else None
        cases.append(Case(ep, "served", 200, ep.responses[200], body=body))
        if "{model}" in ep.path:
            cases.append(Case(ep, "other model", 404, "error_response", model="nope", body=body))
        if "{version}" in ep.path:
            cases.append(Case(ep, "other version", 404, "error_response", version="999", body=body))
        if ep.method == "POST":
            cases.append(
                Case(ep, "only the requested output", 200, "inference_response",
                     body=_INFER_OK | {"outputs": [{"name": "probabilities"}]})
            )  # fmt: skip
            cases.extend(
                Case(ep, what, 400, ep.responses[400], body=bad)
                for what, bad in _BAD_BODIES.items()
            )
    return cases


CASES = _cases()


def _call(target: Target, case: Case) -> httpx.Response:
    path = case.endpoint.path.format(
        model=case.model or target.model, version=case.version or target.version
    )
    url = target.url + path
    if case.endpoint.method == "POST":
        return httpx.post(url, json=case.body, timeout=30)
    return httpx.get(url, timeout=30)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_endpoint_answers_its_response_object(oip_target: Target, case: Case) -> None:
    response = _call(oip_target, case)
    # On KServe's routes too: FastAPI's 422 for what KServe's pydantic model refuses (say,
    # outputs not a list) reaches the client as the protocol's 400 error object.
    assert response.status_code == case.status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    if oip_target.kserve_routes and case.status == 200 and case.endpoint.api == "Inference":
        body = _without_kserve_nulls(body)
    jsonschema.validate(body, schema(case.object))
    if case.status == 200 and case.endpoint.api == "Inference":
        assert body["model_name"] == oip_target.model
        assert body["model_version"] == oip_target.version
        expected = (
            [o["name"] for o in case.body["outputs"]]
            if "outputs" in case.body
            else ["prediction", "probabilities"]
        )
        assert [o["name"] for o in body["outputs"]] == expected
    if case.status == 200 and case.endpoint.api == "Model Metadata":
        assert body["name"] == oip_target.model
        assert oip_target.version in body["versions"]
    if case.status == 200 and case.endpoint.api == "Model Ready":
        assert body == {"name": oip_target.model, "ready": True}


def _without_kserve_nulls(body: dict[str, Any]) -> dict[str, Any]:
    """KServe's own v2 route (0.21) serializes its pydantic response with
    ``"parameters": null`` at the top and on each output; the protocol allows an object or
    nothing. Pinned here (it is KServe's, and one more reason the lean path is the
    default), then dropped so that the rest of the answer is still checked."""
    assert body.get("parameters", "absent") is None
    outputs = [{k: v for k, v in o.items() if not (k == "parameters" and v is None)}
               for o in body["outputs"]]  # fmt: skip
    return {**{k: v for k, v in body.items() if k != "parameters"}, "outputs": outputs}


def test_every_operation_and_status_is_exercised() -> None:
    """The cases cover each operation of the documents, and each status they name, except
    the metadata endpoints' 400: a GET without a body has nothing to be wrong about."""
    covered = {(c.endpoint.method, c.endpoint.path, c.status) for c in CASES}
    untestable = {(ep.method, ep.path, 400) for ep in ENDPOINTS if ep.method == "GET"}
    wanted = {(ep.method, ep.path, status) for ep in ENDPOINTS for status in ep.responses}
    assert wanted - untestable <= covered
    assert {ep.path for ep in ENDPOINTS} >= {
        "/v2/health/live", "/v2/health/ready", "/v2", "/v2/models/{model}",
        "/v2/models/{model}/versions/{version}", "/v2/models/{model}/ready",
        "/v2/models/{model}/versions/{version}/ready", "/v2/models/{model}/infer",
        "/v2/models/{model}/versions/{version}/infer",
    }  # fmt: skip


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_each_schema_refuses_a_wrong_body(name: str) -> None:
    """The negative fixture of every response schema: the checker can fail."""
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(REFUSED[name], schema(name))


def test_schemas_are_valid_json_schemas() -> None:
    for name in SCHEMAS:
        jsonschema.Draft202012Validator.check_schema(schema(name))


@pytest.mark.parametrize("path", ["/v2/models/{model}/explain", "/v2/models/{model}/versions/"])
def test_an_unknown_v2_path_is_404_with_the_error_object(oip_target: Target, path: str) -> None:
    response = httpx.get(oip_target.url + path.format(model=oip_target.model), timeout=30)
    assert response.status_code == 404
    jsonschema.validate(response.json(), schema("error_response"))


def test_a_wrong_method_is_405_with_the_error_object(oip_target: Target) -> None:
    response = httpx.get(f"{oip_target.url}/v2/models/{oip_target.model}/infer", timeout=30)
    assert response.status_code == 405
    jsonschema.validate(response.json(), schema("error_response"))
