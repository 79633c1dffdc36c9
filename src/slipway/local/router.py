"""The local stack's weighted HTTP router: champion and canary behind one loopback port.

It plays the part Knative's traffic split plays on the cluster. Each request goes to one
backend, chosen by smooth weighted round robin (deterministic: at 10% exactly one request
in ten goes to the canary), and is proxied whole.

No request is dropped while weights change:
- the backend table is replaced in one assignment on the event loop, so a request sees
  either the old table or the new one, and a request already sent keeps its backend;
- requests in flight are counted per backend URL, also after the backend left the table,
  so the caller stops a server only once its count is zero (``LocalBackend`` does);
- a request whose connection to a backend is refused (never sent) is retried once on
  another backend; anything that fails after sending is answered 502, never retried.

Shadow traffic (slipway.serving.shadow): with a shadow target set, a share of the
inference requests answered 200 is copied to it after the live answer went out, and the two
answers compared and counted (``slipway_shadow_requests_total``); the shadow's answer is
never returned, and a copy that finds ``max_inflight`` copies in flight is dropped.

Admin API on the same port: ``GET /-/router`` (table, counters, shadow), ``PUT /-/router``
(``{"backends": [{"name", "url", "weight", "model_version"}]}``), ``GET /-/shadow``,
``PUT /-/shadow`` (``{"url", "model_name", "model_version", "percent", "score_tolerance",
"max_inflight", "timeout_seconds"}``; ``{"url": null}`` turns it off), ``GET
/-/router/health``; ``/metrics`` is the router's own Prometheus metrics. Everything else is
proxied.

Run: ``python -m slipway.local.router --port N [--backends JSON]``.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import asdict, dataclass
from typing import Any

import httpx
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from slipway.serving.shadow import Mirror, ShadowTargetRefused, parse_target

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_HOP_BY_HOP = {
    b"connection", b"keep-alive", b"transfer-encoding", b"te", b"trailer", b"upgrade",
    b"proxy-authorization", b"proxy-authenticate", b"host", b"content-length",
}  # fmt: skip


@dataclass(frozen=True)
class Upstream:
    name: str
    url: str
    weight: int
    model_version: str = ""


class _Backend(BaseModel):
    """One backend of a ``PUT /-/router`` body, typed strictly: a name or weight of the
    wrong type is refused, naming the field, not found out while proxying."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = Field(min_length=1)
    url: str = Field(pattern=r"^https?://[^/?#\s]+$")
    weight: int = Field(ge=0)
    model_version: str = ""


class _TableBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    backends: list[_Backend]


class TableRefused(ValueError):
    """A ``PUT /-/router`` body that is not a table: the field at fault and why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def parse_table(body: bytes | Any) -> list[Upstream]:
    """The backends of a ``PUT /-/router`` body (JSON bytes, or already decoded)."""
    try:
        if isinstance(body, bytes):
            parsed = _TableBody.model_validate_json(body)
        else:
            parsed = _TableBody.model_validate(body)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in error["loc"]) or "body"
        raise TableRefused(where, str(error["msg"])) from None
    backends = [Upstream(b.name, b.url, b.weight, b.model_version) for b in parsed.backends]
    if len({b.name for b in backends}) != len(backends):
        raise TableRefused("backends", "backend names must be unique")
    return backends


class Table:
    """Backends with smooth weighted round robin (nginx's algorithm)."""

    def __init__(self, backends: list[Upstream]) -> None:
        for b in backends:
            if b.weight < 0:
                raise ValueError(f"backend {b.name}: negative weight")
        if len({b.name for b in backends}) != len(backends):
            raise ValueError("backend names must be unique")
        self.backends = backends
        self._current = [0] * len(backends)
        self._total = sum(b.weight for b in backends)

    def pick(self, exclude: frozenset[str] = frozenset()) -> Upstream | None:
        best, best_value = -1, 0
        total = 0
        for i, b in enumerate(self.backends):
            if b.weight <= 0 or b.url in exclude:
                continue
            self._current[i] += b.weight
            total += b.weight
            if best < 0 or self._current[i] > best_value:
                best, best_value = i, self._current[i]
        if best < 0:
            return None
        self._current[best] -= total
        return self.backends[best]


class Router:
    def __init__(self, backends: list[Upstream] | None = None) -> None:
        self.table = Table(backends or [])
        self.inflight: dict[str, int] = {}
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "slipway_router_requests",
            "Requests proxied, by backend, model version and status code (502: failed).",
            ["backend", "model_version", "code"],
            registry=self.registry,
        )
        self.retries = Counter(
            "slipway_router_retries",
            "Requests retried on another backend after a refused connection.",
            ["backend"],
            registry=self.registry,
        )
        self.weight = Gauge(
            "slipway_router_backend_weight",
            "Traffic weight of each backend.",
            ["backend", "model_version"],
            registry=self.registry,
        )
        self.mirror = Mirror(self.registry)
        self._client: httpx.AsyncClient | None = None
        self._set_weights_gauge()

    def _set_weights_gauge(self) -> None:
        self.weight.clear()
        for b in self.table.backends:
            self.weight.labels(b.name, b.model_version).set(b.weight)

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(60.0, connect=2.0),
                limits=httpx.Limits(max_connections=256, max_keepalive_connections=64),
            )
        return self._client

    def state(self) -> dict[str, Any]:
        return {
            "backends": [asdict(b) for b in self.table.backends],
            "inflight": {url: n for url, n in self.inflight.items() if n},
            "shadow": self.mirror.state(),
        }

    def configure(self, payload: bytes | Any) -> None:
        """Replace the table with ``payload``'s backends; TableRefused changes nothing."""
        backends = parse_table(payload)
        self.table = Table(backends)  # one assignment: the switch is atomic on the loop
        self._set_weights_gauge()
        log.info("backends: %s", ", ".join(f"{b.name}={b.weight}" for b in backends))

    # ------------------------------------------------------------------ ASGI

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        body = await _read_body(receive)
        if path == "/-/router/health":
            await _respond(send, 200, b'{"status":"ok"}')
        elif path == "/-/router" and method == "GET":
            await _respond(send, 200, json.dumps(self.state()).encode())
        elif path == "/-/router" and method == "PUT":
            try:
                self.configure(body)
            except TableRefused as exc:
                error = {"error": str(exc), "field": exc.field}
                await _respond(send, 400, json.dumps(error).encode())
                return
            await _respond(send, 200, json.dumps(self.state()).encode())
        elif path == "/-/shadow" and method == "GET":
            await _respond(send, 200, json.dumps(self.mirror.state()).encode())
        elif path == "/-/shadow" and method == "PUT":
            try:
                target = parse_target(body)
            except ShadowTargetRefused as exc:
                error = {"error": str(exc), "field": exc.field}
                await _respond(send, 400, json.dumps(error).encode())
                return
            self.mirror.configure(target)
            log.info("shadow: %s", target or "off")
            await _respond(send, 200, json.dumps(self.mirror.state()).encode())
        elif path == "/metrics" and method == "GET":
            await _respond(send, 200, generate_latest(self.registry), b"text/plain; version=0.0.4")
        else:
            await self._proxy(scope, body, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.mirror.close()
                if self._client is not None:
                    await self._client.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _proxy(self, scope: Scope, body: bytes, send: Send) -> None:
        headers = [(k, v) for k, v in scope["headers"] if k not in _HOP_BY_HOP]
        query = scope.get("query_string", b"").decode("latin-1")
        target = scope["path"] + (f"?{query}" if query else "")
        tried: set[str] = set()
        while True:
            backend = self.table.pick(frozenset(tried))
            if backend is None:
                await _respond(send, 503, b'{"error":"no backend available"}')
                return
            self.inflight[backend.url] = self.inflight.get(backend.url, 0) + 1
            try:
                response = await self.client.request(
                    scope["method"], backend.url + target, content=body, headers=headers
                )
            except httpx.ConnectError:
                # Refused before anything was sent: safe to try the other backend.
                tried.add(backend.url)
                self.retries.labels(backend.name).inc()
                continue
            except httpx.HTTPError as exc:
                self.requests.labels(backend.name, backend.model_version, "502").inc()
                await _respond(send, 502, json.dumps({"error": f"backend: {exc}"}).encode())
                return
            finally:
                self.inflight[backend.url] -= 1
            self.requests.labels(
                backend.name, backend.model_version, str(response.status_code)
            ).inc()
            out = [
                (k.encode("latin-1"), v.encode("latin-1"))
                for k, v in response.headers.items()
                if k.encode("latin-1") not in _HOP_BY_HOP
            ]
            out.append((b"x-slipway-backend", backend.name.encode()))
            out.append((b"content-length", str(len(response.content)).encode()))
            await send(
                {"type": "http.response.start", "status": response.status_code, "headers": out}
            )
            await send({"type": "http.response.body", "body": response.content})
            # After the live answer went out: the copy never delays it.
            self.mirror.offer(
                scope["method"], scope["path"], query, headers, body,
                response.status_code, response.content,
            )  # fmt: skip
            return


async def _read_body(receive: Receive) -> bytes:
    parts = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        parts.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(parts)


async def _respond(
    send: Send, status: int, body: bytes, content_type: bytes = b"application/json"
) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--backends", default="[]", help="JSON list of backends")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    router = Router(parse_table({"backends": json.loads(args.backends)}))
    uvicorn.run(router, host="127.0.0.1", port=args.port, access_log=False, log_level="warning")


if __name__ == "__main__":
    main()
