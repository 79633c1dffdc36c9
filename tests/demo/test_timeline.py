"""The report's figures from a real Prometheus: the local stack's, scraping a real model
server behind the router (the shared trained world), with the load step sending to it."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from serving_support import MODEL, World

from slipway.data.contract import load_contract
from slipway.demo.timeline import read_timeline
from slipway.errors import PrometheusError
from slipway.registry import aliases
from slipway.rollout.backends.local import LocalBackend
from slipway.rollout.load import LoadGenerator, contract_rows
from slipway.rollout.model_registry import target_for
from slipway.rollout.prometheus import SCORES

pytestmark = pytest.mark.integration


def test_timeline_reads_share_latency_and_scores(world: World, tmp_path: Path) -> None:
    version = world.versions[0]
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"data": {"contract": str(world.settings.data.contract)},
                                  "tracking": {"model_name": MODEL}}))  # fmt: skip
    world.stack.up(prometheus=True)
    client = world.client()
    aliases.promote(client, MODEL, version, "test setup")
    backend = LocalBackend(world.stack, config)
    prometheus = world.stack.prometheus_url() or ""
    before = _scraped_instances(prometheus)
    try:
        url = backend.ensure_serving(target_for(client, MODEL, version, world.state / "models"))
        rows = contract_rows(load_contract(world.settings.data.contract), 100, seed=2)
        # increase() counts from a series' first scrape: a request served before Prometheus
        # found the new server is not in it. Warm up until Prometheus scrapes that server.
        _wait_until_scraped(prometheus, url, rows, before)
        start = time.time()
        counts = LoadGenerator(url, MODEL, rows, rate=30, duration=6, clients=2).start().wait()
        time.sleep(3)  # two scrapes after the last request
        timeline = read_timeline(prometheus, MODEL, start, time.time())
    finally:
        backend.close()
    assert counts.ok == counts.sent > 100
    assert set(timeline.share) == {version}
    assert max(v for _, v in timeline.share[version]) == pytest.approx(1.0)
    assert all(v == 0 for _, v in timeline.error_rate[version])
    assert timeline.p99_ms[version] and all(v > 0 for _, v in timeline.p99_ms[version])
    buckets = timeline.scores[version]
    # increase() extrapolates to the window's edges: over a ~9 s window scraped each second it
    # can overshoot by up to about two scrape intervals' worth (CI saw +11%), never undershoot
    # once two scrapes follow the last request. The report draws shares, which it does not skew.
    assert counts.sent * 0.95 <= sum(c for _, c in buckets) <= counts.sent * 1.35
    assert [le for le, _ in buckets] == sorted(le for le, _ in buckets)


def _scraped_instances(prometheus: str) -> set[str]:
    query = f'count by (instance) ({SCORES}{{model_name="{MODEL}"}})'
    answer = httpx.get(f"{prometheus}/api/v1/query", params={"query": query}, timeout=5)
    return {r["metric"].get("instance", "") for r in answer.json()["data"]["result"]}


def _wait_until_scraped(prometheus: str, url: str, rows: list[Any], before: set[str]) -> None:
    """Until Prometheus has scraped the score series of a server it did not scrape before
    (earlier tests' servers of this model may still be in its database); at most 20 s, for
    a server that was already running."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        LoadGenerator(url, MODEL, rows[:2], rate=10, duration=0.2, clients=1).start().wait()
        if _scraped_instances(prometheus) - before:
            return
        time.sleep(0.5)


def test_an_unreachable_prometheus_is_a_clear_error() -> None:
    with pytest.raises(PrometheusError, match=r"127\.0\.0\.1:9"):
        read_timeline("http://127.0.0.1:9", MODEL, 0, 10)
