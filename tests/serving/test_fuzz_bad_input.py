"""Generative bad-input fuzz of every HTTP endpoint the predictor and the local router serve.

Hypothesis builds valid v1 and v2 bodies of the churn contract and changes one thing in
each (a field of another JSON type, a value nested where a scalar belongs, a key dropped or
added, the body cut short or in another encoding, bytes that are not JSON; see
fuzz_bodies.py). Every answer must be a 200 or a 4xx; a 4xx carries the protocol's error
object naming what is wrong; a body invalid by construction never gets a 200; and a valid
request is still answered, with the same numbers, after the fuzz.

The servers are the real ASGI apps, called in-process through httpx's ASGI transport so
thousands of cases fit in ``make test``: slipway's gateway (lean path), the same gateway in
front of KServe's own FastAPI routes (the lean path off; KServe's RESTServer registers its
real endpoints and exception handlers on the app), and the local router in front of the
lean gateway. Seeded (``derandomize``), no example database, ``EXAMPLES`` cases per endpoint.
"""

from __future__ import annotations

import asyncio
import json
import os
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import ORJSONResponse
from fuzz_bodies import Case, any_case, json_value, kind, paths, valid_v1, valid_v2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from serving_support import MODEL, VALID, v2_body

from slipway.local.router import Router
from slipway.serving.gateway import Gateway
from slipway.serving.predictor import SlipwayPredictor

#: Cases per endpoint; SLIPWAY_FUZZ_EXAMPLES sets more (or fewer, while debugging).
EXAMPLES = int(os.environ.get("SLIPWAY_FUZZ_EXAMPLES", "5000"))
VERSION = "3"
# KServe's app answers with ORJSONResponse, which FastAPI now warns about on every request.
pytestmark = pytest.mark.filterwarnings("ignore:ORJSONResponse is deprecated")


def fuzz(examples: int) -> Any:
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )


FUZZ = fuzz(EXAMPLES)
#: (endpoint, cases, seconds), printed at the end of the module.
REPORT: dict[str, list[float]] = {}


class InProcess:
    """An ASGI app and a client that calls it on one event loop, without sockets."""

    def __init__(self, app: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://predictor", timeout=10
        )

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.loop.run_until_complete(self.client.request(method, path, **kwargs))

    def close(self) -> None:
        self.loop.run_until_complete(self.client.aclose())
        self.loop.close()


def kserve_app(model: SlipwayPredictor) -> FastAPI:
    """KServe's REST app as ModelServer builds it (its middleware, v1 and v2 endpoints and
    exception handlers), with ``model`` registered, on a fresh FastAPI object."""
    from kserve.model_repository import ModelRepository
    from kserve.protocol.dataplane import DataPlane
    from kserve.protocol.model_repository_extension import ModelRepositoryExtension
    from kserve.protocol.rest.server import RESTServer

    repository = ModelRepository()
    repository.update(model)
    rest = RESTServer(
        "kserve.model_server:app",
        DataPlane(model_registry=repository),
        ModelRepositoryExtension(model_registry=repository),
        http_port=0,
    )
    app = FastAPI(default_response_class=ORJSONResponse)
    # create_application() does these three on KServe's module-level app; a fresh app keeps
    # the test's routes apart from any other server in this process.
    rest._add_middlewares(app)
    rest._register_endpoints(app)
    rest._add_exception_handlers(app)
    return app


@pytest.fixture(scope="module")
def model(bundle_dir: Path) -> SlipwayPredictor:
    m = SlipwayPredictor(
        MODEL, bundle_dir, VERSION, "run-fuzz", max_batch_size=64, registry=CollectorRegistry()
    )
    m.load()
    return m


def _gateway(model: SlipwayPredictor, lean: bool) -> Gateway:
    return Gateway(kserve_app(model), model, lean=lean, max_body_bytes=65536)


@pytest.fixture(scope="module")
def predictor(model: SlipwayPredictor) -> Iterator[InProcess]:
    """The gateway's lean path, as deployed."""
    server = InProcess(_gateway(model, lean=True))
    yield server
    server.close()


@pytest.fixture(scope="module")
def kserve_routes(model: SlipwayPredictor) -> Iterator[InProcess]:
    """The gateway with the lean path off: inference goes to KServe's routes."""
    server = InProcess(_gateway(model, lean=False))
    yield server
    server.close()


@pytest.fixture(scope="module")
def routed(model: SlipwayPredictor) -> Iterator[tuple[InProcess, Router]]:
    """The local router with the lean gateway as its one backend (the router's own httpx
    client goes through the ASGI transport instead of a socket)."""
    router = Router()
    router.configure({"backends": [{"name": "champion", "url": "http://champion", "weight": 1,
                                    "model_version": VERSION}]})  # fmt: skip
    router._client = httpx.AsyncClient(transport=httpx.ASGITransport(app=_gateway(model, True)))
    server = InProcess(router)
    yield server, router
    server.loop.run_until_complete(router._client.aclose())
    server.close()


def _path(protocol: str, versioned: bool = False) -> str:
    if protocol == "v1":
        return f"/v1/models/{MODEL}:predict"
    return f"/v2/models/{MODEL}" + (f"/versions/{VERSION}" if versioned else "") + "/infer"


def check_answer(response: httpx.Response, case: Case) -> None:
    """200 or a 4xx with the error object naming the field; never a 200 for a body that
    is invalid by construction."""
    code, text = response.status_code, response.text[:300]
    where = f"{case.protocol} {case.change}: {case.body[:200]!r} -> {code} {text}"
    assert code == 200 or 400 <= code < 500, where
    if code == 200:
        assert not case.sure, where
        return
    error = response.json()
    # slipway's error object {"error", "field"}; KServe's routes answer {"error"} alone
    # for what only they check (their pydantic models).
    assert type(error) is dict and type(error.get("error")) is str and error["error"], where
    said = f"{error.get('field')} {error['error']}"
    assert any(name in said for name in case.names) or "body" in said or "JSON" in said, where


def _record(name: str, start: float) -> None:
    entry = REPORT.setdefault(name, [0, 0.0])
    entry[0] += 1
    entry[1] = time.perf_counter() - start


_STARTS: dict[str, float] = {}


def _start(name: str) -> float:
    return _STARTS.setdefault(name, time.perf_counter())


def _fuzz_json(server: InProcess, name: str, case: Case, versioned: bool) -> None:
    start = _start(name)
    response = server.request(
        "POST",
        _path(case.protocol, versioned),
        content=case.body,
        headers={"content-type": "application/json"},
    )
    check_answer(response, case)
    _record(name, start)


JSON_CASES = st.sampled_from(["v1", "v2"]).flatmap(any_case)


@FUZZ
@given(case=JSON_CASES, versioned=st.booleans())
def test_predictor_answers_every_body_with_200_or_a_4xx_naming_the_field(
    predictor: InProcess, case: Case, versioned: bool
) -> None:
    _fuzz_json(predictor, "predictor", case, versioned)


@FUZZ
@given(case=JSON_CASES, versioned=st.booleans())
def test_kserve_routes_answer_every_body_with_200_or_a_4xx_naming_the_field(
    kserve_routes: InProcess, case: Case, versioned: bool
) -> None:
    _fuzz_json(kserve_routes, "predictor-kserve-routes", case, versioned)


@st.composite
def binary_case(draw: st.DrawFn) -> tuple[bytes, str]:
    """A v2 request with binary inputs, its header length and bytes changed at random."""
    body = draw(valid_v2())
    tensor = draw(st.sampled_from(body["inputs"]))
    flat = [v[0] if type(v) is list else v for v in tensor.pop("data")]
    if tensor["datatype"] == "BYTES":
        raw = b"".join(len(v.encode()).to_bytes(4, "little") + v.encode() for v in flat)
    else:
        tensor["datatype"] = "FP64"
        raw = struct.pack(f"<{len(flat)}d", *flat)
    size = st.just(len(raw)) | st.integers(-2, 90) | json_value
    tensor["parameters"] = {"binary_data_size": draw(size)}
    header = json.dumps(body).encode()
    payload = header + raw
    length = draw(
        st.just(str(len(header))) | st.integers(-5, len(payload) + 5).map(str) | st.text(max_size=6)
    )
    if draw(st.booleans()):
        payload = payload[: draw(st.integers(0, len(payload)))]
    return payload, length


def _fuzz_binary(server: InProcess, name: str, case: tuple[bytes, str]) -> None:
    start = _start(name)
    payload, length = case
    try:
        header_value = length.encode("latin-1")
    except UnicodeEncodeError:
        header_value = b"x"
    response = server.request(
        "POST",
        _path("v2"),
        content=payload,
        headers=[(b"content-type", b"application/octet-stream"),
                 (b"inference-header-content-length", header_value)],
    )  # fmt: skip
    code = response.status_code
    assert code == 200 or 400 <= code < 500, (payload[:200], length, code, response.text[:300])
    if code != 200:
        assert response.json()["error"], response.text
    _record(name, start)


@FUZZ
@given(case=binary_case())
def test_the_binary_extension_answers_200_or_a_4xx(
    predictor: InProcess, case: tuple[bytes, str]
) -> None:
    _fuzz_binary(predictor, "predictor-binary", case)


@FUZZ
@given(case=binary_case())
def test_the_binary_extension_on_kserve_routes_answers_200_or_a_4xx(
    kserve_routes: InProcess, case: tuple[bytes, str]
) -> None:
    _fuzz_binary(kserve_routes, "predictor-binary-kserve-routes", case)


@FUZZ
@given(case=JSON_CASES)
def test_router_passes_bad_bodies_through_and_never_answers_5xx(
    routed: tuple[InProcess, Router], case: Case
) -> None:
    start = _start("router-proxy")
    server, _ = routed
    response = server.request(
        "POST", _path(case.protocol), content=case.body,
        headers={"content-type": "application/json"},
    )  # fmt: skip
    check_answer(response, case)
    assert response.headers["x-slipway-backend"] == "champion"
    _record("router-proxy", start)


_BACKEND = {"name": "champion", "url": "http://champion", "weight": 1, "model_version": VERSION}


@st.composite
def router_config(draw: st.DrawFn) -> tuple[bytes, bool, str]:
    """(body, valid, what changed) of a PUT /-/router."""
    backends = [dict(_BACKEND)]
    if draw(st.booleans()):
        backends.append({**_BACKEND, "name": "canary", "url": "http://canary", "weight": 0})
    body: Any = {"backends": backends}
    how = draw(st.sampled_from(["retype", "drop", "add", "body", "bytes", "cut"]))
    if how == "retype":
        key = draw(st.sampled_from(list(_BACKEND)))
        was = _BACKEND[key]
        backends[0][key] = draw(json_value.filter(lambda v: type(v) is not type(was)))
        return json.dumps(body).encode(), False, key
    if how == "drop":
        key = draw(st.sampled_from(["name", "url", "weight"]))
        del backends[0][key]
        return json.dumps(body).encode(), False, key
    if how == "add":
        key = draw(st.text(min_size=1, max_size=8).filter(lambda k: k not in _BACKEND))
        backends[0][key] = draw(json_value)
        return json.dumps(body).encode(), False, key
    if how == "body":
        other = draw(json_value.filter(lambda v: type(v) is not dict or "backends" not in v))
        return json.dumps(other).encode(), False, "backends"
    raw = json.dumps(body).encode()
    if how == "cut":
        return raw[: draw(st.integers(0, len(raw) - 1))], False, "body"
    # Random bytes may be JSON of any shape: any field may be the one named.
    return draw(st.binary(max_size=60)), False, ""


@FUZZ
@given(case=router_config())
def test_router_admin_refuses_every_bad_table_naming_the_field(
    routed: tuple[InProcess, Router], case: tuple[bytes, bool, str]
) -> None:
    start = _start("router-admin")
    server, router = routed
    body, _, key = case
    before = router.state()["backends"]
    response = server.request("PUT", "/-/router", content=body)
    assert 400 <= response.status_code < 500, (body[:200], response.status_code, response.text)
    error = response.json()
    said = f"{error.get('field')} {error['error']}"
    assert type(error.get("field")) is str and error["field"], (body[:200], error)
    assert key in said or error["field"] == "body", (body[:200], error)
    # A refused table changes nothing.
    assert router.state()["backends"] == before
    _record("router-admin", start)


_NOTIFICATION = {
    "version": "4",
    "status": "firing",
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "SlipwayDriftDetected", "model": MODEL, "version": "1"},
            "annotations": {"summary": "drift"},
            "fingerprint": "abc",
            "startsAt": "2026-12-02T00:00:00Z",
        }
    ],
}


@st.composite
def receiver_case(draw: st.DrawFn) -> tuple[bytes, bool]:
    """(body, sure): an Alertmanager notification with one structural change (sure: a
    required field of another JSON type, or dropped), or any JSON, or bytes."""
    how = draw(st.sampled_from(["retype", "drop", "json", "bytes", "cut"]))
    body = json.loads(json.dumps(_NOTIFICATION))
    if how in ("retype", "drop"):
        path = draw(st.sampled_from(paths(body)[1:]))
        parent = body
        for step in path[:-1]:
            parent = parent[step]
        # The webhook's required fields: status, alerts, an alert's status and labels,
        # and the labels' values (strings).
        required = path[-1] in ("status", "alerts", "labels") or (
            len(path) == 4 and path[2] == "labels"
        )
        if how == "drop":
            del parent[path[-1]]
            # A label less is still a valid set of labels.
            sure = path[-1] in ("status", "alerts", "labels")
        else:
            was = kind(parent[path[-1]])
            parent[path[-1]] = draw(json_value.filter(lambda v: kind(v) != was))
            sure = required or (len(path) == 2 and path[0] == "alerts")
        return json.dumps(body).encode(), sure
    if how == "json":
        return json.dumps(draw(json_value)).encode(), False
    raw = json.dumps(body).encode()
    if how == "cut":
        return raw[: draw(st.integers(0, len(raw) - 1))], True
    return draw(st.binary(max_size=60)), False


@pytest.fixture(scope="module")
def receiver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[Any]]]:
    """slipway's alert receiver (slipway.monitoring.receiver) on a loopback port, its
    state in a folder of the test's; its retraining is a stand-in that records the call (a
    real retraining per accepted alert would be minutes each)."""
    import threading

    from slipway.config import RetrainingSettings
    from slipway.local.processes import free_port
    from slipway.monitoring.receiver import Receiver, serve

    started: list[Any] = []

    def retrain(job: Any) -> dict[str, Any]:
        started.append(job)
        return {"status": "succeeded"}

    state = tmp_path_factory.mktemp("receiver")
    core = Receiver(state, RetrainingSettings(cooldown_seconds=0), retrain)
    port = free_port()
    server = serve(core, port)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}", started
    server.shutdown()
    core.close()


@pytest.fixture(scope="module")
def receiver_http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


@FUZZ
@given(case=receiver_case())
def test_the_alert_receiver_answers_every_body_with_200_or_a_4xx(
    receiver: tuple[str, list[Any]], receiver_http: httpx.Client, case: tuple[bytes, bool]
) -> None:
    start = _start("alert-receiver")
    body, sure = case
    response = receiver_http.post(f"{receiver[0]}/alerts", content=body)
    code = response.status_code
    assert code == 200 or 400 <= code < 500, (body[:200], code, response.text[:300])
    if code != 200:
        assert response.json()["error"], response.text
    else:
        assert not sure, (body[:200], response.text[:300])
    _record("alert-receiver", start)


def test_valid_requests_are_still_answered_after_the_fuzz(
    predictor: InProcess,
    kserve_routes: InProcess,
    routed: tuple[InProcess, Router],
    model: SlipwayPredictor,
) -> None:
    expected = model.infer("v1", {"instances": [VALID]})
    for server in (predictor, kserve_routes, routed[0]):
        v1 = server.request("POST", _path("v1"), json={"instances": [VALID]})
        assert v1.status_code == 200 and v1.json() == expected
        v2 = server.request("POST", _path("v2"), json=v2_body([VALID], "after"))
        assert v2.status_code == 200, v2.text
        outputs = {o["name"]: o["data"] for o in v2.json()["outputs"]}
        assert outputs["probabilities"] == expected["predictions"][0]["probabilities"]
    assert predictor.request("GET", f"/v2/models/{MODEL}/ready").status_code == 200


def test_the_alert_receiver_still_answers_a_valid_alert_after_the_fuzz(
    receiver: tuple[str, list[Any]],
) -> None:
    url, started = receiver
    before = len(started)
    response = httpx.post(f"{url}/alerts", json=_NOTIFICATION, timeout=10)
    assert response.status_code == 200 and response.json() == {"started": [MODEL]}
    assert httpx.get(f"{url}/healthz", timeout=10).status_code == 200
    deadline = time.monotonic() + 10
    while len(started) == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(started) > before


@settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(protocol=st.sampled_from(["v1", "v2"]), data=st.data())
def test_the_strategies_make_valid_bodies_that_are_answered(
    predictor: InProcess, protocol: str, data: st.DataObject
) -> None:
    """The fuzz's starting points are valid: without this, every 4xx above could be a
    broken strategy rather than a checked refusal."""
    body = data.draw(valid_v1() if protocol == "v1" else valid_v2())
    response = predictor.request("POST", _path(protocol), json=body)
    assert response.status_code == 200, (body, response.text)


def test_fuzz_counts() -> None:
    """Every endpoint fuzzed above got all its cases (this runs after them, in file order;
    tests/serving/conftest.py prints the counts and times at the end of the run)."""
    for name, (count, _) in REPORT.items():
        assert count >= EXAMPLES, (name, count)
