"""Shadow traffic: copies of live inference requests sent to a challenger, its answers
compared with the live ones and counted, never returned.

One mechanism for both places a request passes: the local stack's router
(slipway.local.router) and, on the cluster, the champion predictor's lean HTTP layer
(slipway.serving.gateway), so both backends measure agreement the same way.

What keeps the live request safe:

- the copy is sent *after* the live answer went out, from a task of its own: the live path
  only decides whether to copy (a counter) and schedules the task;
- at most ``max_inflight`` copies are in flight; a copy beyond that is **dropped** and
  counted, never queued, so a slow shadow cannot pile up work or memory;
- each copy has a timeout (``timeout_seconds``): a slow shadow counts as an error;
- copies go through their own HTTP client, so they never take the live path's connections.

Each compared answer is counted in
``slipway_shadow_requests_total{model_name, model_version, outcome}``, the version being the
shadow's, the outcome ``agree``, ``disagree``, ``error`` (the shadow failed or timed out) or
``dropped``. The rollout's Prometheus source reads the agreement rate from it.

The target is set at run time (a ``PUT /-/shadow`` body on the router, a watched file in the
predictor: ``ShadowTarget``); nothing restarts.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import re
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge
from pydantic import BaseModel, ConfigDict, Field, ValidationError

log = logging.getLogger(__name__)

OUTCOMES = ("agree", "disagree", "error", "dropped")
METRIC = "slipway_shadow_requests"
#: In the predictor: the file holding the shadow target (a ConfigMap key mounted by the
#: model-serving chart; the kubelet refreshes it in place, so nothing restarts).
TARGET_FILE_ENV = "SLIPWAY_SHADOW_TARGET_FILE"
# Inference routes only: a copy of a metadata or health call measures nothing.
_INFER = re.compile(r"^/v1/models/[^/]+:predict$|^/v2/models/[^/]+(/versions/[^/]+)?/infer$")
_VERSIONED = re.compile(r"/versions/[^/]+/infer$")
# Fields of a v2 answer that name the server or the request, not the prediction.
_NOT_PREDICTIONS = frozenset({"id", "model_name", "model_version", "parameters"})


class ShadowTargetRefused(ValueError):
    """A shadow target that cannot be used: the field at fault and why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class _TargetBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    url: str = Field(pattern=r"^https?://[^?#\s]+$")
    model_name: str = Field(min_length=1)
    model_version: str = Field(min_length=1)
    percent: float = Field(gt=0, le=100)
    score_tolerance: float = Field(0.1, ge=0)
    max_inflight: int = Field(32, ge=1)
    timeout_seconds: float = Field(2.0, gt=0)


@dataclass(frozen=True)
class ShadowTarget:
    url: str
    model_name: str
    model_version: str
    percent: float
    score_tolerance: float = 0.1
    max_inflight: int = 32
    timeout_seconds: float = 2.0

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def parse_target(body: bytes | Any) -> ShadowTarget | None:
    """The target of a ``PUT /-/shadow`` body (JSON bytes or decoded); None for
    ``{"url": null}`` or an empty object (mirroring off)."""
    try:
        decoded = orjson.loads(body) if isinstance(body, bytes) else body
    except orjson.JSONDecodeError as exc:
        raise ShadowTargetRefused("body", f"invalid JSON: {exc}") from None
    if isinstance(decoded, dict) and decoded.get("url") is None and set(decoded) <= {"url"}:
        return None
    try:
        parsed = _TargetBody.model_validate(decoded)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in error["loc"]) or "body"
        raise ShadowTargetRefused(where, str(error["msg"])) from None
    return ShadowTarget(**parsed.model_dump())


def answers_agree(live: Any, shadow: Any, tolerance: float) -> bool:
    """Whether two decoded answers make the same prediction: labels, classes and every
    other non-float value equal, floats (scores, probabilities) within ``tolerance``.
    Pure: the comparison rule both mirrors apply."""
    if isinstance(live, dict) and isinstance(shadow, dict):
        keys = set(live) - _NOT_PREDICTIONS
        if keys != set(shadow) - _NOT_PREDICTIONS:
            return False
        return all(answers_agree(live[k], shadow[k], tolerance) for k in keys)
    if isinstance(live, list) and isinstance(shadow, list):
        return len(live) == len(shadow) and all(
            answers_agree(a, b, tolerance) for a, b in zip(live, shadow, strict=True)
        )
    if isinstance(live, float) or isinstance(shadow, float):
        if isinstance(live, bool) or isinstance(shadow, bool):
            return bool(live == shadow)
        if not isinstance(live, int | float) or not isinstance(shadow, int | float):
            return False
        return math.isclose(live, shadow, rel_tol=0.0, abs_tol=tolerance)
    return bool(live == shadow)


def bodies_agree(live: bytes, shadow: bytes, tolerance: float) -> bool:
    """``answers_agree`` over two response bodies; a body that is not JSON (the binary
    tensor extension) agrees only byte for byte."""
    try:
        return answers_agree(orjson.loads(live), orjson.loads(shadow), tolerance)
    except orjson.JSONDecodeError:
        return live == shadow


def counts_in(exposition: str) -> dict[str, float]:
    """``slipway_shadow_requests_total`` by outcome, summed over versions, in one server's
    ``/metrics`` page: what that router or predictor has mirrored, read without Prometheus
    (the tests and benchmarks/shadow_latency.py)."""
    from prometheus_client.parser import text_string_to_metric_families

    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(exposition):
        if family.name != METRIC:
            continue
        for sample in family.samples:
            if sample.name.endswith("_total"):
                outcome = sample.labels["outcome"]
                counts[outcome] = counts.get(outcome, 0.0) + sample.value
    return counts


def is_inference(method: str, path: str) -> bool:
    return method == "POST" and _INFER.match(path) is not None


def shadow_path(path: str) -> str:
    """The path a copy goes to: a versioned v2 path names the champion's version, which the
    shadow does not serve, so the copy takes the unversioned one."""
    return _VERSIONED.sub("/infer", path)


class Mirror:
    """Copies of live requests to one shadow target at a time (``target``; None: off)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.target: ShadowTarget | None = None
        self.requests = Counter(
            METRIC,
            "Live requests copied to the shadow, by the shadow's model and the outcome of the "
            "comparison (agree, disagree, error, dropped).",
            ["model_name", "model_version", "outcome"],
            registry=registry,
        )
        self.inflight_gauge = Gauge(
            "slipway_shadow_inflight", "Copies to the shadow in flight.", registry=registry
        )
        self.inflight = 0
        self._credit = 0.0
        self._tasks: set[asyncio.Task[None]] = set()
        self._client: httpx.AsyncClient | None = None
        self._client_for: tuple[int, float] | None = None
        self._file: Path | None = None  # ``follow``: the target from a file
        self._every = 1.0
        self._checked = -math.inf
        self._stamp: tuple[float, int] | None = None

    def configure(self, target: ShadowTarget | None) -> None:
        self.target = target
        self._credit = 0.0
        if target is not None:
            for outcome in OUTCOMES:  # every series exists from the start (a rate needs two)
                self.requests.labels(target.model_name, target.model_version, outcome)

    def state(self) -> dict[str, Any]:
        return {
            "target": self.target.to_dict() if self.target else None,
            "inflight": self.inflight,
        }

    def _http(self, target: ShadowTarget) -> httpx.AsyncClient:
        wanted = (target.max_inflight, target.timeout_seconds)
        if self._client is None or self._client_for != wanted:
            old = self._client
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(target.timeout_seconds),
                limits=httpx.Limits(
                    max_connections=target.max_inflight,
                    max_keepalive_connections=target.max_inflight,
                ),
            )
            self._client_for = wanted
            if old is not None:
                task = asyncio.get_running_loop().create_task(old.aclose())
                self._keep(task)
        return self._client

    def _sampled(self, percent: float) -> bool:
        # Deterministic share, as the router's round robin: at 25% one request in four.
        self._credit += percent / 100.0
        if self._credit >= 1.0 - 1e-9:
            self._credit -= 1.0
            return True
        return False

    def offer(
        self,
        method: str,
        path: str,
        query: str,
        headers: Iterable[tuple[bytes, bytes]],
        body: bytes,
        live_status: int,
        live_body: bytes,
    ) -> bool:
        """After a live answer was sent: copy the request to the shadow when it is sampled.
        Never waits; True when a copy was scheduled."""
        target = self.target
        if target is None or live_status != 200 or not is_inference(method, path):
            return False
        if not self._sampled(target.percent):
            return False
        if self.inflight >= target.max_inflight:
            self.requests.labels(target.model_name, target.model_version, "dropped").inc()
            return False
        self.inflight += 1
        self.inflight_gauge.set(self.inflight)
        url = target.url.rstrip("/") + shadow_path(path) + (f"?{query}" if query else "")
        kept = [(k, v) for k, v in headers if k.lower() in (b"content-type", b"accept")]
        task = asyncio.get_running_loop().create_task(
            self._copy(target, url, kept, body, live_body)
        )
        self._keep(task)
        return True

    def _keep(self, task: asyncio.Task[None]) -> None:
        # A task nobody holds may be collected mid-flight.
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _copy(
        self,
        target: ShadowTarget,
        url: str,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        live_body: bytes,
    ) -> None:
        outcome = "error"
        try:
            response = await self._http(target).post(url, content=body, headers=headers)
            if response.status_code == 200:
                agree = bodies_agree(live_body, response.content, target.score_tolerance)
                outcome = "agree" if agree else "disagree"
        except httpx.HTTPError as exc:
            log.debug("shadow call to %s failed: %s", url, exc)
        except Exception:  # never let a copy's bug reach the live server's loop
            log.exception("shadow comparison failed")
        finally:
            self.inflight -= 1
            self.inflight_gauge.set(self.inflight)
        self.requests.labels(target.model_name, target.model_version, outcome).inc()

    async def drain(self, timeout: float = 5.0) -> None:
        """Wait for the copies in flight (tests, shutdown)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)

    def follow(self, path: Path, every: float = 1.0) -> None:
        """Take the target from ``path`` (JSON as a ``PUT /-/shadow`` body; missing or
        empty: off), looked at again at most every ``every`` seconds by ``refresh``."""
        self._file, self._every, self._checked, self._stamp = path, every, -math.inf, None

    def refresh(self) -> None:
        """Re-read the followed file when it changed: one ``stat`` a second at most."""
        path = self._file
        now = time.monotonic()
        if path is None or now - self._checked < self._every:
            return
        self._checked = now
        try:
            stat = path.stat()
            stamp: tuple[float, int] | None = (stat.st_mtime, stat.st_size)
        except OSError:
            stamp = None
        if stamp == self._stamp:
            return
        self._stamp = stamp
        try:
            text = path.read_bytes().strip() if stamp else b""
            self.configure(parse_target(text) if text else None)
        except (OSError, ShadowTargetRefused) as exc:
            log.warning("shadow target file %s refused, mirroring off: %s", path, exc)
            self.configure(None)

    async def close(self) -> None:
        await self.drain()
        if self._client is not None:
            await self._client.aclose()
            self._client = None


Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def from_environment(registry: CollectorRegistry = REGISTRY) -> Mirror | None:
    """The predictor's mirror, when the deployment names a target file (the chart does when
    ``shadow.enabled``); None otherwise, and the gateway then never taps a request."""
    name = os.environ.get(TARGET_FILE_ENV)
    if not name:
        return None
    mirror = Mirror(registry)
    mirror.follow(Path(name))
    return mirror


class Tap:
    """What the predictor's gateway needs to copy one request: the body it received and
    the answer it sent, recorded on their way (the live path is not changed)."""

    def __init__(self, receive: Receive, send: Send) -> None:
        self._receive, self._send = receive, send
        self.body: list[bytes] = []
        self.answer: list[bytes] = []
        self.status = 0

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request":
            self.body.append(message.get("body", b""))
        return message

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = int(message["status"])
        elif message["type"] == "http.response.body":
            self.answer.append(message.get("body", b""))
        await self._send(message)

    def offer(self, mirror: Mirror, scope: MutableMapping[str, Any]) -> None:
        mirror.offer(
            scope["method"], scope["path"], scope.get("query_string", b"").decode("latin-1"),
            scope["headers"], b"".join(self.body), self.status, b"".join(self.answer),
        )  # fmt: skip
