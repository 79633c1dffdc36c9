"""The predictor's lean HTTP layer: the outermost ASGI layer of KServe's app.

KServe's ModelServer stays the server (uvicorn, its FastAPI app, health, liveness,
/metrics, the model repository). In front of that app sits this layer, which answers the
hot routes and the Open Inference Protocol's model routes itself:

    POST /v1/models/{name}:predict
    POST /v2/models/{name}[/versions/{version}]/infer    (JSON, or the binary extension)
    GET  /v2/models/{name}[/versions/{version}]          (metadata, each input's contract)
    GET  /v2/models/{name}[/versions/{version}]/ready
    GET  /v2                                             (server metadata)

The served version answers on its version path; any other version, any other model, and
any other method or path under /v2/models is a 404 (405) with the protocol's JSON error
object: KServe itself answers 501 for every version path.

Why: per request, KServe's stack matches every route twice (once for its timing
middleware's metric name), logs timing lines, runs FastAPI's dependency machinery and
pydantic models, and for v2 builds InferRequest objects. For a model that computes in
microseconds that overhead is most of the latency. This layer reads the body, decodes it
with orjson, and calls the model's own preprocess/predict/postprocess steps (predictor.py),
so the contract checks and the numbers are the same either way.

It also owns what must hold on both paths: request counting by status code and latency
(labelled with model name and version), size limits, error bodies that name the field, and
the test-only fault injection. With ``serving.lean_http: false`` every inference request
goes to KServe's routes (the served version's path mapped onto KServe's unversioned one) and
this layer only measures it; the other routes above are answered here either way.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

import slipway
from slipway.errors import RequestError
from slipway.serving import binary_tensors, shadow
from slipway.serving.binary_tensors import BinaryResponse
from slipway.serving.predictor import V1, V2, SlipwayPredictor

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_JSON = (b"content-type", b"application/json")
_OCTETS = (b"content-type", b"application/octet-stream")
#: What a lean server supports beyond the core protocol (GET /v2 lists it).
EXTENSIONS = ("binary_tensor_data",)


class _Disconnected(Exception):
    """The client went away before its body arrived: nobody to answer."""


class Gateway:
    def __init__(
        self,
        app: ASGIApp,
        model: SlipwayPredictor,
        *,
        lean: bool = True,
        max_body_bytes: int = 1_048_576,
        fault_error_rate: float = 0.0,
        fault_latency_ms: float = 0.0,
    ) -> None:
        self.app = app
        self.model = model
        self.lean = lean
        self.max_body_bytes = max_body_bytes
        self.fault_error_rate = fault_error_rate
        self.fault_latency = fault_latency_ms / 1000.0
        self._fault_credit = 0.0
        name = model.name
        model_path = f"/v2/models/{name}"
        version_path = f"{model_path}/versions/{model.version}"
        self.routes = {
            f"/v1/models/{name}:predict": V1,
            f"{model_path}/infer": V2,
            f"{version_path}/infer": V2,
        }
        # KServe's routes know no versions: the served version's infer path goes to the
        # plain one.
        self.unversioned = {f"{version_path}/infer": f"{model_path}/infer"}
        self.version_header = (b"x-slipway-model-version", model.version.encode())
        self.metrics = model.metrics
        # Cluster shadow mode (slipway.serving.shadow): None unless the chart names a file.
        self.mirror = shadow.from_environment()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            protocol = self.routes.get(path)
            if protocol is not None and scope["method"] == "POST":
                await self._infer(protocol, scope, receive, send)
                return
            if path.startswith("/v2") and await self._v2(scope, receive, send):
                return
        await self.app(scope, receive, send)

    # ------------------------------------------------------------------ the other v2 routes

    async def _v2(self, scope: Scope, receive: Receive, send: Send) -> bool:
        """Answer a v2 route other than inference, on both paths (KServe's own answer 501
        for a version, ``"versions": null`` in the metadata and a 307 for ``/v2/``); False
        for what KServe answers as is (health, the model list, the repository extension)."""
        path, method = scope["path"], scope["method"]
        if path in ("/v2", "/v2/"):
            if method != "GET":
                await self._error(send, 405, f"{method} is not allowed on {path}", "method")
            else:
                await self._respond(send, 200, self.server_metadata())
            return True
        if not path.startswith("/v2/models/"):
            return False
        parts = path[len("/v2/models/") :].split("/")
        name, rest = parts[0], parts[1:]
        version = None
        if len(rest) >= 2 and rest[0] == "versions":
            version, rest = rest[1], rest[2:]
        route = "/".join(rest)
        if route not in ("", "ready", "infer") or (version is not None and not version):
            await self._error(send, 404, f"no route {path}", "path")
        elif name != self.model.name:
            await self._error(
                send, 404, f"model {name!r} is not served here (this server serves "
                f"{self.model.name!r})", "model_name",
            )  # fmt: skip
        elif version is not None and version != self.model.version:
            await self._error(
                send, 404, f"version {version!r} of {name!r} is not served here (this server "
                f"serves version {self.model.version!r})", "version",
            )  # fmt: skip
        elif method != ("POST" if route == "infer" else "GET"):
            await self._error(send, 405, f"{method} is not allowed on {path}", "method")
        elif route == "ready":
            ready = bool(self.model.ready)
            await self._respond(send, 200 if ready else 503, {"name": name, "ready": ready})
        else:
            await self._respond(send, 200, self.model.metadata())
        return True

    def server_metadata(self) -> dict[str, Any]:
        return {"name": "slipway", "version": slipway.__version__, "extensions": [*EXTENSIONS]}

    # ------------------------------------------------------------------ inference

    async def _infer(self, protocol: str, scope: Scope, receive: Receive, send: Send) -> None:
        tap = None
        if self.mirror is not None:
            self.mirror.refresh()
            if self.mirror.target is not None:
                tap = shadow.Tap(receive, send)
                receive, send = tap.receive, tap.send
        start = time.perf_counter()
        code = await self._fault()
        if code:
            await self._respond(send, code, {"error": "injected fault", "field": None})
        elif self.lean:
            code = await self._lean(protocol, scope, receive, send)
        else:
            code = await self._through_kserve(protocol, scope, receive, send)
        if code and self.metrics is not None:
            self.metrics.count(protocol, code)
            self.metrics.latency_child.observe(time.perf_counter() - start)
        if tap is not None and self.mirror is not None:
            tap.offer(self.mirror, scope)  # after the answer went out: never delays it

    async def _fault(self) -> int:
        # TEST ONLY (serving.fault_*): added latency, and a deterministic share of 500s:
        # every request adds the rate to a credit, and a request fails when it reaches 1.
        if self.fault_latency:
            await asyncio.sleep(self.fault_latency)
        if self.fault_error_rate:
            self._fault_credit += self.fault_error_rate
            if self._fault_credit >= 1.0:
                self._fault_credit -= 1.0
                return 500
        return 0

    async def _lean(self, protocol: str, scope: Scope, receive: Receive, send: Send) -> int:
        try:
            body, header_length = await self._read_body(scope, receive)
            if header_length is None:
                decoded = _decode_json(body)
            elif protocol == V2:
                length = binary_tensors.header_length(header_length, len(body))
                decoded = binary_tensors.decode_request(body, length)
            else:
                raise RequestError(
                    400,
                    "the binary tensor data extension is for v2 inference only",
                    binary_tensors.HEADER_FIELD,
                )
            response = self.model.infer(protocol, decoded)
        except RequestError as exc:
            await self._respond(send, exc.status, exc.to_json(), close=exc.status == 413)
            return exc.status
        except _Disconnected:
            return 0
        except Exception as exc:  # a bug, never bad input: the fuzz test holds us to it
            log.exception("prediction failed")
            await self._respond(send, 500, {"error": f"internal error: {type(exc).__name__}"})
            return 500
        if type(response) is dict:
            await self._respond(send, 200, response)
        else:
            assert isinstance(response, BinaryResponse)
            await self._respond_binary(send, response)
        return 200

    async def _read_body(self, scope: Scope, receive: Receive) -> tuple[bytes, bytes | None]:
        """The body, and the binary extension's header length when the request has one."""
        limit = self.max_body_bytes
        header_length = None
        for key, value in scope["headers"]:
            if key == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    raise RequestError(400, "invalid content-length", "body") from None
                if declared > limit:
                    raise RequestError(
                        413, f"body of {declared} bytes is over the limit of {limit}", "body"
                    )
            elif key == binary_tensors.HEADER_LENGTH:
                header_length = value
        return await self._receive_body(receive, limit), header_length

    async def _receive_body(self, receive: Receive, limit: int) -> bytes:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        body: bytes = message.get("body", b"")
        if not message.get("more_body", False):
            if len(body) > limit:
                raise RequestError(413, f"body is over the limit of {limit} bytes", "body")
            return body
        parts, size = [body], len(body)
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Disconnected
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise RequestError(413, f"body is over the limit of {limit} bytes", "body")
            parts.append(chunk)
            if not message.get("more_body", False):
                return b"".join(parts)

    async def _respond(self, send: Send, status: int, payload: Any, close: bool = False) -> None:
        body = orjson.dumps(payload)
        headers = [_JSON, self.version_header, (b"content-length", str(len(body)).encode())]
        if close:
            # The rest of an oversized body is never read: close rather than parse it as
            # the next request.
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _error(self, send: Send, status: int, message: str, field: str) -> None:
        await self._respond(send, status, {"error": message, "field": field})

    async def _respond_binary(self, send: Send, response: BinaryResponse) -> None:
        # As Triton answers: the JSON header's length in Inference-Header-Content-Length,
        # and the body typed as bytes, since it is no longer JSON as a whole.
        body, length = response.encode()
        headers = [
            _OCTETS,
            self.version_header,
            (binary_tensors.HEADER_LENGTH, str(length).encode()),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _through_kserve(
        self, protocol: str, scope: Scope, receive: Receive, send: Send
    ) -> int:
        status = 0
        held: list[bytes] | None = None

        async def capture(message: Message) -> None:
            nonlocal status, held
            if message["type"] == "http.response.start":
                status = int(message["status"])
                if status == 422:
                    # FastAPI's validation answer ({"detail": [...]}) is not the protocol's
                    # error object: hold it and answer a 400 that names the field instead.
                    held = []
                    return
                headers = message.get("headers", [])
                if any(key == binary_tensors.HEADER_LENGTH for key, _ in headers):
                    # KServe sends binary outputs without a content type; say what it is.
                    kept = [(k, v) for k, v in headers if k.lower() != b"content-type"]
                    message = {**message, "headers": [*kept, _OCTETS]}
            elif held is not None:
                held.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                status = 400
                await self._respond(send, 400, _validation_error(b"".join(held)))
                return
            await send(message)

        path = self.unversioned.get(scope["path"], scope["path"])
        headers = scope["headers"]
        names = {key for key, _ in headers}
        try:
            body, length = await self._read_body(scope, receive)
            # Decode and check the body here as the lean path does (a 400 naming what is
            # wrong), then hand KServe the body. KServe's binary decoder answers 500 for a
            # body that does not add up; its JSON decoder also takes UTF-16 and UTF-32 and
            # does not name what is broken; its pydantic models coerce (a shape of
            # [true, 1] passes as [1, 1], "1" as 1); and it takes JSON other than an object
            # for the binary extension's bytes.
            if length is not None:
                size = binary_tensors.header_length(length, len(body))
                decoded = binary_tensors.decode_request(body, size)
            else:
                decoded = _decode_json(body)
            self.model.parse(protocol, decoded)
        except RequestError as exc:
            await self._respond(send, exc.status, exc.to_json(), close=exc.status == 413)
            return exc.status
        except _Disconnected:
            return 0
        receive = _replay(body, receive)
        if length is None and b"content-type" not in names:
            # KServe's v2 route takes a body without a content type for bytes, and then
            # wants the binary extension's header; the lean path reads it as the JSON it is.
            headers = [*headers, _JSON]
        await self.app({**scope, "path": path, "headers": headers}, receive, capture)
        return status


def _decode_json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise RequestError(400, f"invalid JSON: {exc}", "body") from exc


def _validation_error(body: bytes) -> dict[str, Any]:
    """The protocol's error object for FastAPI's 422 answer: the first problem, its field."""
    try:
        detail = orjson.loads(body)["detail"][0]
        # loc is ("body", the union member's class name, then the path in the body).
        parts = [p for p in detail["loc"] if p != "body" and not str(p)[:1].isupper()]
        where = ".".join(str(p) for p in parts) or "body"
        message = str(detail["msg"])
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError):
        return {"error": "invalid request body", "field": "body"}
    return {"error": f"{where}: {message}", "field": where}


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive callable that gives the body already read, as one message, and then
    whatever the connection sends next (its disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def install(app: Any, gateway: Callable[[ASGIApp], ASGIApp]) -> None:
    """Put ``gateway`` in front of a Starlette/FastAPI app's whole middleware stack.

    KServe adds its own middleware when the server starts, after our code has run, and a
    middleware added with ``add_middleware`` would end up inside it. Starlette builds the
    stack once, on the first call, with ``build_middleware_stack``; wrapping that method on
    this one app object makes the gateway the outermost layer.
    """
    build = app.build_middleware_stack

    def build_with_gateway() -> ASGIApp:
        return gateway(build())

    app.build_middleware_stack = build_with_gateway
