"""Faults during a rollout on the embedded default: real model servers behind the local
router, a real Prometheus, a real MLflow registry (the rollout tests' world and setup).

- Prometheus stops answering in the middle of a canary step: the rollout rolls back and
  says it was Prometheus; the champion keeps serving every request.
- The canary's model server is killed (SIGKILL) during a canary step: the rollout rolls
  back, the champion serves, the router sends nothing to the dead server afterwards.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "rollout"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "serving"))

from serving_support import MODEL, World
from test_local_rollout import _rollout, _router, _start
from test_local_rollout import setup as setup  # the rollout tests' fixture, re-exported

from slipway.local.stack import PROMETHEUS
from slipway.registry import aliases
from slipway.rollout.backends.local import CANARY, CHAMPION

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Any:
    import serving_support as support

    w = support.acquire(tmp_path_factory.mktemp("faults-world"))
    yield w
    support.release(w)


class Background:
    """A rollout in a thread: its outcome, or the error it raised."""

    def __init__(self, world: World, config: dict[str, Any], version: str) -> None:
        self.outcome: Any = None
        self.error: BaseException | None = None
        #: When the rollout returned or raised: the end of the rollback when it raised.
        self.ended_at = 0.0
        self.thread = threading.Thread(target=self._run, args=(world, config, version))
        self.thread.start()

    def _run(self, world: World, config: dict[str, Any], version: str) -> None:
        try:
            self.outcome = _rollout(world, config, version)
        except BaseException as exc:  # the test looks at it
            self.error = exc
        finally:
            self.ended_at = time.time()

    def join(self, timeout: float) -> None:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the rollout did not end"


def _wait_for_canary(world: World, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        backends = _router(world)["backends"]
        if any(b["name"] == CANARY and b["weight"] > 0 for b in backends):
            return
        time.sleep(0.1)
    raise AssertionError("no canary step started")


def _reason(run: Background) -> str:
    if run.error is not None:
        return f"{type(run.error).__name__}: {run.error}"
    return str(run.outcome.reason)


def test_prometheus_lost_during_a_canary_step_rolls_back_and_says_why(
    world: World, request: pytest.FixtureRequest
) -> None:
    config = request.getfixturevalue("setup")
    champion, challenger = world.versions
    with _start(world, config, champion) as load:
        run = Background(world, config, challenger)
        _wait_for_canary(world)
        lost_at = time.time()
        world.stack.services()[PROMETHEUS].stop()
        run.join(180)
        time.sleep(1)
    try:
        reason = _reason(run)
        if run.error is None:
            assert run.outcome.decision == "rolled_back", reason
        assert "Prometheus" in reason or "PrometheusError" in reason, reason
        client = world.client()
        assert aliases.version_by_alias(client, MODEL, aliases.CHAMPION).version == champion
        backends = _router(world)["backends"]
        assert [(b["name"], b["model_version"], b["weight"]) for b in backends] == [
            (CHAMPION, champion, 100)
        ]
        assert load.statuses() == {200}, [h for h in load.hits if h.status != 200][:5]
        assert {h.version for h in load.hits if h.at > time.time() - 0.5} <= {champion}
        done = getattr(run.outcome, "rollback_done_at", None) or run.ended_at
        print(f"Prometheus lost: rolled back {done - lost_at:.1f}s later ({reason[:120]})")
    finally:
        world.stack.up(prometheus=True)


def test_the_canary_server_killed_during_a_step_rolls_back_to_the_champion(
    world: World, request: pytest.FixtureRequest
) -> None:
    config = request.getfixturevalue("setup")
    champion, challenger = world.versions[1], world.versions[0]
    with _start(world, config, champion) as load:
        run = Background(world, config, challenger)
        _wait_for_canary(world)
        canary = world.stack.services()[CANARY]
        os.killpg(canary.pid, signal.SIGKILL)
        killed_at = time.time()
        run.join(180)
        time.sleep(1)
    reason = _reason(run)
    assert run.error is None, reason
    assert run.outcome.decision == "rolled_back", reason
    client = world.client()
    assert aliases.version_by_alias(client, MODEL, aliases.CHAMPION).version == champion
    backends = _router(world)["backends"]
    assert [(b["name"], b["model_version"]) for b in backends] == [(CHAMPION, champion)]
    assert CANARY not in world.stack.services()
    after = [h for h in load.hits if h.at > killed_at + 1]
    assert after and all(h.status == 200 and h.version == champion for h in after[-20:])
    took = (run.outcome.rollback_done_at or run.ended_at) - killed_at
    print(f"canary killed: rolled back {took:.1f}s later ({reason[:160]})")
