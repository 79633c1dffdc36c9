"""The shadow phase on real servers: the router (its own process) in front of real model
servers (KServe's ModelServer), a real Prometheus scraping both, a real MLflow registry.

- shadow mode never changes a live answer: during the phase every answer comes from the
  champion (``x-slipway-model-version``), and the copies are compared and counted;
- a good challenger goes on from the shadow phase to the canary steps and is promoted;
- a challenger whose answers disagree (trained on inverted labels) is rolled back in the
  shadow phase: it never served a live request, and the champion is kept;
- a slow shadow: the mirror drops copies beyond ``max_inflight`` instead of queueing them,
  times the rest out, and the live answers do not wait for it. The slow shadow is a small
  stdlib HTTP server that sleeps before answering (a real server over real sockets,
  standing in for a challenger that is slow: the predictor cannot be made slow per test).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from serving_support import MODEL, VALID, World
from traffic_support import Load, request_rows, shadow_counts

from slipway.data import synthetic, tables
from slipway.local import processes
from slipway.pipeline.steps import run_pipeline
from slipway.registry import aliases
from slipway.rollout import service
from slipway.rollout.backends.local import DECISIONS_FILE, LocalBackend
from slipway.rollout.controller import RolloutOutcome
from slipway.rollout.model_registry import target_for
from slipway.runtime import Runtime

pytestmark = pytest.mark.integration

ROWS = request_rows(seed=99)

SHADOW = {
    "percent": 50,
    "duration_seconds": 4,
    "min_requests": 30,
    "min_agreement": 0.8,
    "score_tolerance": 0.25,
    "max_extensions": 1,
}


@pytest.fixture(scope="module")
def config(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("shadow")
    path = root / "config.yaml"
    path.write_text(
        json.dumps(
            {
                "data": {"contract": str(world.settings.data.contract)},
                "tracking": {"model_name": MODEL},
                "rollout": {
                    "steps": [50, 100],
                    "window_seconds": 2,
                    "check_interval_seconds": 0.5,
                    "min_requests": 10,
                    "max_extensions": 3,
                    "max_error_rate_increase": 0.05,
                    "max_p99_ratio": 3,
                    "p99_ratio_floor_ms": 50,
                    "max_p99_ms": 250,
                    "max_score_psi": None,  # the score gate has its own tests
                    "shadow": SHADOW,
                    "gitops": {"enabled": False},
                },
            }
        )
    )
    world.stack.up(prometheus=True)
    yield path
    LocalBackend(world.stack).close()


def _serving(world: World, config: Path, champion: str) -> str:
    client = world.client()
    aliases.promote(client, MODEL, champion, "test setup")
    target = target_for(client, MODEL, champion, world.state / "models")
    backend = LocalBackend(world.stack, config)
    try:
        return backend.ensure_serving(target)
    finally:
        backend.close()


def _rollout(world: World, config: Path, version: str) -> RolloutOutcome:
    return service.start_rollout(Runtime.load(config, world.state), version)


def _router(world: World) -> dict[str, Any]:
    backend = LocalBackend(world.stack)
    try:
        return backend.router_state()
    finally:
        backend.close()


@pytest.fixture(scope="module")
def inverted(world: World) -> str:
    """A version trained on inverted labels: as fast and error-free as the champion, and
    its answers are the champion's opposite."""
    data = world.state / "train-shadow-inverted.csv"
    frame = synthetic.generate(2000, 11)
    frame["churned"] = 1 - frame["churned"]
    tables.write_table(frame, data)
    result = run_pipeline(world.client(), world.settings, data)
    assert result.registration is not None, result.decision
    return result.registration.version


def test_a_good_challenger_is_shadowed_without_touching_live_answers_then_promoted(
    world: World, config: Path
) -> None:
    champion, challenger = world.versions
    with Load(_serving(world, config, champion), ROWS) as load:
        time.sleep(1)
        outcome = _rollout(world, config, challenger)
    assert outcome.decision == "promoted", outcome.reason
    shadow, *steps = outcome.steps
    assert shadow.percent == 0 and shadow.outcome == "pass", shadow.reason
    assert [s.percent for s in steps] == [50, 100]
    (agreement,) = shadow.measurements
    assert agreement["metric"] == "agreement" and agreement["canary_samples"] >= 30
    assert shadow.canary["agree"] > 0
    # Every live answer during the shadow phase came from the champion.
    assert shadow.finished_at is not None
    print(f"\nshadow {shadow.started_at - outcome.started_at:.1f}s after the start, "
          f"{shadow.finished_at - shadow.started_at:.1f}s long; steps at "
          f"{[round(s.started_at - outcome.started_at, 1) for s in steps]}")  # fmt: skip
    during = [h for h in load.hits if shadow.started_at <= h.at <= shadow.finished_at]
    assert len(during) > 30
    assert {h.version for h in during} == {champion}
    assert {h.status for h in load.hits} == {200}
    assert aliases.version_by_alias(world.client(), MODEL, aliases.CHAMPION).version == challenger
    assert _router(world)["shadow"]["target"] is None  # mirroring off after the phase


def test_a_disagreeing_challenger_is_rolled_back_in_shadow_never_serving(
    world: World, config: Path, inverted: str
) -> None:
    champion = world.versions[1]
    with Load(_serving(world, config, champion), ROWS) as load:
        time.sleep(1)
        outcome = _rollout(world, config, inverted)
    assert outcome.decision == "rolled_back", outcome.reason
    assert outcome.reason.startswith("shadow agreement "), outcome.reason
    (shadow,) = outcome.steps  # no canary step ever began
    assert shadow.percent == 0 and shadow.outcome == "fail"
    assert shadow.measurements[0]["statistic"] < 0.8
    # No live request was served by the challenger, and none failed.
    assert load.hits and {h.version for h in load.hits} == {champion}
    assert {h.status for h in load.hits} == {200}
    assert aliases.version_by_alias(world.client(), MODEL, aliases.CHAMPION).version == champion
    state = _router(world)
    assert [(b["model_version"], b["weight"]) for b in state["backends"]] == [(champion, 100)]
    assert state["shadow"]["target"] is None
    assert "model-canary" not in world.stack.services()
    decision = json.loads((world.state / DECISIONS_FILE).read_text().splitlines()[-1])
    assert decision["decision"] == "rolled_back"
    assert decision["steps"][0]["percent"] == 0
    tags = world.client().get_model_version(MODEL, inverted).tags
    assert json.loads(tags["slipway.rollout.step.1.analysis"])["outcome"] == "fail"


# ---------------------------------------------------------------------- a slow shadow


class _Slow(BaseHTTPRequestHandler):
    delay = 1.0
    lock = threading.Lock()
    active = 0
    most = 0
    seen = 0

    def do_POST(self) -> None:
        cls = type(self)
        self.rfile.read(int(self.headers.get("content-length", 0)))
        with cls.lock:
            cls.active += 1
            cls.seen += 1
            cls.most = max(cls.most, cls.active)
        time.sleep(cls.delay)
        body = b'{"predictions": []}'
        try:
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except BrokenPipeError:
            pass  # the mirror timed out and went away: what a timeout is
        with cls.lock:
            cls.active -= 1

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def slow_shadow() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def router(world: World) -> Iterator[str]:
    """A router process of its own in front of one champion server."""
    champion = world.versions[0]
    server = world.serve(champion)
    port = processes.free_port()
    backends = [{"name": "c", "url": server.url, "weight": 100, "model_version": champion}]
    proc = processes.start(
        f"router-shadow-{port}",
        [sys.executable, "-m", "slipway.local.router", "--port", str(port),
         "--backends", json.dumps(backends)],
        port=port, health_path="/-/router/health", log_dir=world.state / "logs",
    )  # fmt: skip
    yield proc.url
    proc.stop()


def test_a_slow_shadow_drops_copies_and_never_delays_live_answers(
    router: str, slow_shadow: str
) -> None:
    target = {"url": slow_shadow, "model_name": MODEL, "model_version": "slow", "percent": 100,
              "max_inflight": 3, "timeout_seconds": 5}  # fmt: skip
    with httpx.Client(timeout=10) as http:
        # A first answer warms the champion and the connections up (seconds, once).
        http.post(f"{router}/v1/models/{MODEL}:predict", json={"instances": [VALID]})
        assert http.put(f"{router}/-/shadow", json=target).status_code == 200
        assert http.get(f"{router}/-/router").json()["shadow"]["target"]["url"] == slow_shadow
        took = []
        for _ in range(40):
            t0 = time.perf_counter()
            r = http.post(f"{router}/v1/models/{MODEL}:predict", json={"instances": [VALID]})
            took.append(time.perf_counter() - t0)
            assert r.status_code == 200 and "predictions" in r.json()
        time.sleep(1.5)  # the copies in flight are answered
        counts, copied = shadow_counts(router), _Slow.seen
        # A shadow slower than the timeout: the copy counts as an error.
        http.put(f"{router}/-/shadow", json={**target, "timeout_seconds": 0.2})
        http.post(f"{router}/v1/models/{MODEL}:predict", json={"instances": [VALID]})
        time.sleep(0.6)
        timed_out = shadow_counts(router)
        http.put(f"{router}/-/shadow", json={"url": None})
    # 40 live answers each well under the shadow's 1 s: none waited for it.
    assert max(took) < 0.5, max(took)
    # Never more than 3 copies at the slow server; the rest dropped, not queued.
    assert _Slow.most <= 3, _Slow.most
    assert counts["dropped"] >= 30, counts
    # The slow server's empty answer is not the champion's: compared, and disagreeing.
    assert counts["disagree"] == copied >= 1, counts
    assert counts["agree"] == 0 and counts["error"] == 0, counts
    assert timed_out["error"] == 1, timed_out


def test_the_shadow_target_is_checked(router: str) -> None:
    with httpx.Client(timeout=10) as http:
        bad = http.put(
            f"{router}/-/shadow",
            json={"url": "http://127.0.0.1:1", "model_name": MODEL, "model_version": "2",
                  "percent": 0},
        )  # fmt: skip
        assert bad.status_code == 400
        assert bad.json()["field"] == "percent"
        assert http.get(f"{router}/-/shadow").json()["target"] is None
