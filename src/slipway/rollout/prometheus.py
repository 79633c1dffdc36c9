"""Canary and champion figures from a Prometheus HTTP API, through PromQL.

The same queries run against the local stack's Prometheus and the cluster's: both scrape
the predictor's own metrics (slipway.serving.telemetry), which carry ``model_name`` and
``model_version``, so a version is selected by label whatever the deployment.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import httpx
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential

from slipway.errors import PrometheusError
from slipway.rollout.analysis import Snapshot, Stats
from slipway.rollout.shadow_analysis import ShadowStats
from slipway.rollout.statistics import bucket_counts

REQUESTS = "slipway_inference_requests_total"
LATENCY = "slipway_inference_request_duration_seconds_bucket"
SCORES = "slipway_prediction_score_bucket"
# Counted where the copies are made (the router, or the champion's predictor on a cluster),
# labelled with the shadow's model name and version (slipway.serving.shadow).
SHADOW = "slipway_shadow_requests_total"


def _selector(model: str, version: str) -> str:
    return f'model_name="{model}",model_version="{version}"'


def _window(seconds: float) -> str:
    # Whole seconds, and never under 2 s: a rate needs two samples in its range.
    return f"{max(2, math.ceil(seconds))}s"


@dataclass(frozen=True)
class Queries:
    """The PromQL expressions for one version over one window."""

    requests: str
    errors: str
    p99_seconds: str
    score_buckets: str

    @classmethod
    def for_version(cls, model: str, version: str, window_seconds: float) -> Queries:
        sel, w = _selector(model, version), _window(window_seconds)
        return cls(
            requests=f"sum(increase({REQUESTS}{{{sel}}}[{w}]))",
            # Server errors only: a 4xx is the client's mistake, not the model's.
            errors=f'sum(increase({REQUESTS}{{{sel},code=~"5.."}}[{w}]))',
            p99_seconds=(f"histogram_quantile(0.99, sum by (le) (rate({LATENCY}{{{sel}}}[{w}])))"),
            # Cumulative counts per ``le``: the scores observed in the window, per bucket.
            score_buckets=f"sum by (le) (increase({SCORES}{{{sel}}}[{w}]))",
        )


def shadow_query(model: str, version: str, window_seconds: float) -> str:
    """Mirrored answers to ``version`` over the window, one series per outcome."""
    sel, w = _selector(model, version), _window(window_seconds)
    return f"sum by (outcome) (increase({SHADOW}{{{sel}}}[{w}]))"


class PrometheusClient:
    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(timeout=timeout)

    def close(self) -> None:
        self._http.close()

    @retry(
        retry=retry_if_exception_type(httpx.TransportError),
        stop=stop_after_attempt(4),
        wait=wait_exponential(multiplier=0.2, max=2),
        reraise=True,
    )
    def _get(self, query: str, time: float | None) -> dict[str, Any]:
        params: dict[str, Any] = {"query": query}
        if time is not None:
            params["time"] = f"{time:.3f}"
        response = self._http.get(f"{self.url}/api/v1/query", params=params)
        try:
            payload: dict[str, Any] = response.json()
        except ValueError as exc:
            raise PrometheusError(f"Prometheus answered HTTP {response.status_code}") from exc
        if payload.get("status") != "success":
            raise PrometheusError(f"query {query!r} failed: {payload.get('error', payload)}")
        return payload

    def scalar(self, query: str, time: float | None = None) -> float:
        """The value of a query that yields at most one sample; NaN when it yields none."""
        try:
            data = self._get(query, time)["data"]
        except httpx.TransportError as exc:
            raise PrometheusError(f"cannot reach Prometheus at {self.url}: {exc}") from exc
        result = data.get("result")
        if data.get("resultType") == "scalar":
            return float(result[1])
        if not result:
            return math.nan
        if len(result) > 1:
            raise PrometheusError(f"query {query!r} gave {len(result)} series, expected one")
        return float(result[0]["value"][1])

    def histogram(self, query: str, time: float | None = None) -> tuple[float, ...]:
        """Per-bucket counts of a ``sum by (le)`` query, in ``le`` order; empty when the
        query yields nothing or only NaN (no observations)."""
        try:
            data = self._get(query, time)["data"]
        except httpx.TransportError as exc:
            raise PrometheusError(f"cannot reach Prometheus at {self.url}: {exc}") from exc
        cumulative = []
        for series in data.get("result") or []:
            le = series.get("metric", {}).get("le")
            if le is None:
                raise PrometheusError(f"query {query!r} gave a series without an le label")
            cumulative.append((float(le), float(series["value"][1])))
        cumulative.sort()
        if not cumulative or any(math.isnan(v) for _, v in cumulative):
            return ()
        return bucket_counts([v for _, v in cumulative])

    def stats(self, model: str, version: str, window_seconds: float) -> Stats:
        q = Queries.for_version(model, version, window_seconds)
        requests = self.scalar(q.requests)
        errors = self.scalar(q.errors)
        p99 = self.scalar(q.p99_seconds)
        return Stats(
            requests=0.0 if math.isnan(requests) else requests,
            errors=0.0 if math.isnan(errors) else errors,
            p99_ms=p99 * 1000.0,
            scores=self.histogram(q.score_buckets),
        )

    def shadow_stats(self, model: str, version: str, window_seconds: float) -> ShadowStats:
        """The copies mirrored to ``version`` over the window, by outcome; NaN for agree
        and disagree when Prometheus holds no shadow series at all (a gap, not zero)."""
        query = shadow_query(model, version, window_seconds)
        try:
            data = self._get(query, None)["data"]
        except httpx.TransportError as exc:
            raise PrometheusError(f"cannot reach Prometheus at {self.url}: {exc}") from exc
        found = {
            str(series.get("metric", {}).get("outcome")): float(series["value"][1])
            for series in data.get("result") or []
        }
        if not found:
            return ShadowStats(math.nan, math.nan)
        counts = {k: (0.0 if math.isnan(v) else v) for k, v in found.items()}
        return ShadowStats(
            agree=counts.get("agree", 0.0),
            disagree=counts.get("disagree", 0.0),
            error=counts.get("error", 0.0),
            dropped=counts.get("dropped", 0.0),
        )

    def snapshot(
        self, model: str, canary_version: str, champion_version: str, window_seconds: float
    ) -> Snapshot:
        return Snapshot(
            canary=self.stats(model, canary_version, window_seconds),
            champion=self.stats(model, champion_version, window_seconds),
        )

    def wait_for_series(self, model: str, version: str, timeout: float) -> bool:
        """Until Prometheus holds the version's ``slipway_model_info`` (it is scraped);
        False after ``timeout`` seconds (the window then starts anyway)."""
        query = f"count(slipway_model_info{{{_selector(model, version)}}})"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.scalar(query) >= 1:
                return True
            time.sleep(0.25)
        return False

    def ready(self) -> bool:
        try:
            return self._http.get(f"{self.url}/-/ready").status_code == 200
        except httpx.HTTPError:
            return False
