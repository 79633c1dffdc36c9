"""What Prometheus saw during a rollout, per model version, for the demo's report.

Range queries (``/api/v1/query_range``) over the rollout's span, one sample a second:
each version's share of the requests, its server-error rate and its p99 latency; and the
score histogram of each version over the whole rollout (one instant query at its end).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import httpx

from slipway.errors import PrometheusError
from slipway.rollout.prometheus import LATENCY, REQUESTS, SCORES

Series = dict[str, list[tuple[float, float]]]  # version -> [(time, value)]


@dataclass
class Timeline:
    start: float
    end: float
    share: Series = field(default_factory=dict)
    error_rate: Series = field(default_factory=dict)
    p99_ms: Series = field(default_factory=dict)
    # version -> [(upper bound, scores in the bucket)], non-cumulative
    scores: dict[str, list[tuple[float, float]]] = field(default_factory=dict)


def _rate_window(step: float) -> str:
    return f"{max(3, math.ceil(3 * step))}s"


class RangeReader:
    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _get(self, path: str, params: dict[str, str]) -> list[dict[str, object]]:
        try:
            answer = httpx.get(f"{self.url}{path}", params=params, timeout=self.timeout)
            payload = answer.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise PrometheusError(f"Prometheus at {self.url}: {exc}") from exc
        if payload.get("status") != "success":
            raise PrometheusError(f"query {params['query']!r}: {payload.get('error', payload)}")
        result: list[dict[str, object]] = payload["data"]["result"]
        return result

    def series(self, query: str, start: float, end: float, step: float) -> Series:
        params = {"query": query, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step}"}
        out: Series = {}
        for item in self._get("/api/v1/query_range", params):
            labels = item["metric"]
            assert isinstance(labels, dict)
            version = str(labels.get("model_version", ""))
            values = item["values"]
            assert isinstance(values, list)
            points = [(float(t), float(v)) for t, v in values]
            out[version] = [(t, v) for t, v in points if not math.isnan(v)]
        return out

    def instant(self, query: str, at: float) -> list[dict[str, object]]:
        return self._get("/api/v1/query", {"query": query, "time": f"{at:.3f}"})


def read_timeline(url: str, model: str, start: float, end: float, step: float = 1.0) -> Timeline:
    """The rollout's figures from Prometheus between ``start`` and ``end`` (epoch s)."""
    reader = RangeReader(url)
    sel, w = f'model_name="{model}"', _rate_window(step)
    by_version = f"sum by (model_version) (rate({REQUESTS}{{{sel}}}[{w}]))"
    timeline = Timeline(start, end)
    timeline.share = reader.series(
        f"{by_version} / scalar(sum(rate({REQUESTS}{{{sel}}}[{w}])))", start, end, step
    )
    timeline.error_rate = reader.series(
        f'sum by (model_version) (rate({REQUESTS}{{{sel},code=~"5.."}}[{w}])) / {by_version}',
        start, end, step,
    )  # fmt: skip
    p99 = reader.series(
        f"histogram_quantile(0.99, sum by (le, model_version) (rate({LATENCY}{{{sel}}}[{w}])))",
        start, end, step,
    )  # fmt: skip
    timeline.p99_ms = {v: [(t, 1000 * x) for t, x in pts] for v, pts in p99.items()}
    span = f"{max(2, math.ceil(end - start))}s"
    buckets = reader.instant(
        f"sum by (le, model_version) (increase({SCORES}{{{sel}}}[{span}]))", end
    )
    cumulative: dict[str, list[tuple[float, float]]] = {}
    for item in buckets:
        labels, value = item["metric"], item["value"]
        assert isinstance(labels, dict)
        assert isinstance(value, list)
        le = float(labels["le"]) if labels["le"] != "+Inf" else math.inf
        cumulative.setdefault(str(labels.get("model_version", "")), []).append(
            (le, float(value[1]))
        )
    for version, points in cumulative.items():
        points.sort()
        counts = [c - (points[i - 1][1] if i else 0.0) for i, (_, c) in enumerate(points)]
        timeline.scores[version] = [
            (le, max(0.0, c)) for (le, _), c in zip(points, counts, strict=True) if le != math.inf
        ]
    return timeline
