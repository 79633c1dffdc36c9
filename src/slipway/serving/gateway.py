"""The predictor's lean HTTP layer: the outermost ASGI layer of KServe's app.

KServe's ModelServer stays the server (uvicorn, its FastAPI app, health, readiness,
/metrics, the model repository). In front of that app sits this layer, which answers the
two hot routes itself:

    POST /v1/models/{name}:predict      POST /v2/models/{name}/infer
    GET  /v2/models/{name}              (metadata, with each input's contract)

Why: per request, KServe's stack matches every route twice (once for its timing
middleware's metric name), logs timing lines, runs FastAPI's dependency machinery and
pydantic models, and for v2 builds InferRequest objects. For a model that computes in
microseconds that overhead is most of the latency. This layer reads the body, decodes it
with orjson, and calls the model's own preprocess/predict/postprocess steps (predictor.py),
so the contract checks and the numbers are the same either way.

It also owns what must hold on both paths: request counting by status code and latency
(labelled with model name and version), size limits, error bodies that name the field, and
the test-only fault injection. With ``serving.lean_http: false`` every request goes to
KServe's routes and this layer only measures.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

from slipway.errors import RequestError
from slipway.serving.predictor import V1, V2, SlipwayPredictor

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_JSON = (b"content-type", b"application/json")


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
        self.routes = {
            f"/v1/models/{name}:predict": V1,
            f"/v2/models/{name}/infer": V2,
            f"/v2/models/{name}/versions/{model.version}/infer": V2,
        }
        self.metadata_path = f"/v2/models/{name}"
        self.versions_prefix = f"/v2/models/{name}/versions/"
        self.version_header = (b"x-slipway-model-version", model.version.encode())
        self.metrics = model.metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            protocol = self.routes.get(scope["path"])
            if protocol is not None and scope["method"] == "POST":
                await self._infer(protocol, scope, receive, send)
                return
            if self.lean and scope["path"] == self.metadata_path and scope["method"] == "GET":
                await self._respond(send, 200, self.model.metadata())
                return
            if scope["path"].startswith(self.versions_prefix):
                # KServe answers 501 for any version in the path; a version this server does
                # not serve is the client's mistake (404), the served one is handled above.
                version = scope["path"][len(self.versions_prefix) :].split("/", 1)[0]
                if version != self.model.version:
                    await self._respond(
                        send,
                        404,
                        {"error": f"version {version!r} is not served here", "field": "version"},
                    )
                    return
        await self.app(scope, receive, send)

    # ------------------------------------------------------------------ inference

    async def _infer(self, protocol: str, scope: Scope, receive: Receive, send: Send) -> None:
        start = time.perf_counter()
        code = await self._fault()
        if code:
            await self._respond(send, code, {"error": "injected fault", "field": None})
        elif self.lean:
            code = await self._lean(protocol, scope, receive, send)
        else:
            code = await self._through_kserve(scope, receive, send)
        if code and self.metrics is not None:
            self.metrics.count(protocol, code)
            self.metrics.latency_child.observe(time.perf_counter() - start)

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
            body = await self._read_body(scope, receive)
            try:
                decoded = orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                raise RequestError(400, f"invalid JSON: {exc}", "body") from exc
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
        await self._respond(send, 200, response)
        return 200

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes:
        limit = self.max_body_bytes
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
                break
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

    async def _through_kserve(self, scope: Scope, receive: Receive, send: Send) -> int:
        status = 0

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        await self.app(scope, receive, capture)
        return status


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
