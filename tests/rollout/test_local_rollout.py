"""The rollout end to end on the local backend: real model servers (KServe ModelServer)
behind the weighted router, a real Prometheus scraping them, a real MLflow registry, and a
temporary git repository for the GitOps record. Traffic flows through the router during
the whole rollout; no request may be dropped.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from serving_support import MODEL, World
from traffic_support import Load, request_rows

from slipway.data import synthetic, tables
from slipway.pipeline.steps import run_pipeline
from slipway.registry import aliases
from slipway.rollout import service
from slipway.rollout.backends.local import DECISIONS_FILE, LocalBackend
from slipway.rollout.controller import RolloutOutcome
from slipway.rollout.gitops import serving_model
from slipway.rollout.model_registry import target_for
from slipway.runtime import Runtime

pytestmark = pytest.mark.integration

VALUES = """\
# model-serving, dev (test copy)
models:
  - name: churn-classifier
    # promotion rewrites the next three keys
    modelVersion: "0"
    runId: bootstrap
    storageUri: s3://bucket/bootstrap
"""


ROWS = request_rows(seed=4242)


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.fixture(scope="module")
def setup(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("rollout")
    repo = root / "gitops"
    values = repo / "argocd" / "values" / "dev" / "model-serving.yaml"
    values.parent.mkdir(parents=True)
    values.write_text(VALUES)
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@localhost", "add", ".")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@localhost", "commit", "-q", "-m", "init")
    contract = world.settings.data.contract
    config = root / "config.yaml"
    config.write_text(
        json.dumps(
            {
                "data": {"contract": str(contract)},
                "tracking": {"model_name": MODEL},
                "rollout": {
                    "steps": [10, 50, 100],
                    # 5 s, not 3: on a loaded machine a 3-s window at 10% held 18 canary
                    # scores, over which these two models' PSI came out at 5 (a CI run).
                    "window_seconds": 5,
                    "check_interval_seconds": 0.5,
                    "min_requests": 10,
                    "min_score_samples": 25,
                    "max_extensions": 3,
                    "max_error_rate_increase": 0.05,
                    "max_p99_ratio": 3,
                    "p99_ratio_floor_ms": 50,
                    "max_p99_ms": 250,
                    # The two test models (3 epochs, different data seeds) differ by a
                    # PSI of 0.02 on 3,000 rows, and by up to ~1.0 beyond sampling noise
                    # over the 44 canary scores of a 10% step (measured, 50 draws); the
                    # skewed model differs by 11 or more.
                    "max_score_psi": 2.0,
                    "gitops": {"repo_dir": str(repo), "environment": "dev"},
                },
            }
        )
    )
    world.stack.up(prometheus=True)  # MLflow is up already; this adds Prometheus
    yield {"config": config, "repo": repo, "values": values}
    LocalBackend(world.stack).close()


def _start(world: World, setup: dict[str, Any], champion: str) -> Load:
    """Champion alias and champion server as the scenario needs, and traffic flowing."""
    client = world.client()
    aliases.promote(client, MODEL, champion, "test setup")
    target = target_for(client, MODEL, champion, world.state / "models")
    backend = LocalBackend(world.stack, setup["config"])
    url = backend.ensure_serving(target)
    backend.close()
    return Load(url, ROWS)


def _rollout(world: World, setup: dict[str, Any], version: str, **faults: float) -> RolloutOutcome:
    return service.start_rollout(Runtime.load(setup["config"], world.state), version, **faults)


def _router(world: World) -> dict[str, Any]:
    backend = LocalBackend(world.stack)
    try:
        return backend.router_state()
    finally:
        backend.close()


def test_good_challenger_is_promoted(world: World, setup: dict[str, Any]) -> None:
    champion, challenger = world.versions
    with _start(world, setup, champion) as load:
        time.sleep(1)
        outcome = _rollout(world, setup, challenger)
        promoted_at = time.time()
        time.sleep(1.5)
    assert outcome.decision == "promoted", outcome.reason
    assert [s.percent for s in outcome.steps] == [10, 50, 100]
    assert all(s.decision == "promote" for s in outcome.steps)
    # The alias moved, and the router sends everything to the new version.
    client = world.client()
    assert aliases.version_by_alias(client, MODEL, aliases.CHAMPION).version == challenger
    state = _router(world)
    assert [(b["model_version"], b["weight"]) for b in state["backends"]] == [(challenger, 100)]
    # No request dropped: every answer was a 200, from one version or the other.
    assert load.statuses() == {200}, [h for h in load.hits if h.status != 200][:5]
    assert {h.version for h in load.hits} == {champion, challenger}
    assert {h.version for h in load.hits if h.at > promoted_at + 0.5} == {challenger}
    # Recorded: MLflow tags, the backend's decision log, the GitOps commit.
    tags = client.get_model_version(MODEL, challenger).tags
    assert tags["slipway.rollout.analysis"] == "promoted"
    assert "slipway.rollout.step.3" in tags
    decisions = (world.state / DECISIONS_FILE).read_text().splitlines()
    assert json.loads(decisions[-1])["decision"] == "promoted"
    assert outcome.gitops is not None
    assert outcome.gitops["kind"] == "commit", outcome.gitops
    repo = setup["repo"]
    committed = _git(
        repo, "show", f"{outcome.gitops['branch']}:argocd/values/dev/model-serving.yaml"
    )
    assert serving_model(committed, MODEL).version == challenger
    assert _git(repo, "rev-parse", "--abbrev-ref", "HEAD") == "main"


def _breach_to_rollback(load: Load, outcome: RolloutOutcome, bad: str) -> float:
    assert outcome.rollback_done_at is not None
    first_bad = min(h.at for h in load.hits if h.version == bad)
    return outcome.rollback_done_at - first_bad


def test_erroring_challenger_is_rolled_back(
    world: World, setup: dict[str, Any], record_property: Any
) -> None:
    champion, bad = world.versions[1], world.versions[0]
    with _start(world, setup, champion) as load:
        time.sleep(1)
        outcome = _rollout(world, setup, bad, fault_error_rate=0.5)
        rolled_back_at = time.time()
        time.sleep(1.5)
    assert outcome.decision == "rolled_back", outcome.reason
    assert "error rate" in outcome.reason
    assert len(outcome.steps) == 1  # caught during the first (10%) step
    client = world.client()
    assert aliases.version_by_alias(client, MODEL, aliases.CHAMPION).version == champion
    state = _router(world)
    assert [(b["model_version"], b["weight"]) for b in state["backends"]] == [(champion, 100)]
    # Only the injected failures, only from the canary; nothing dropped by the router.
    failures = [h for h in load.hits if h.status != 200]
    assert failures, "the canary never failed: no traffic reached it?"
    assert {(h.status, h.version) for h in failures} == {(500, bad)}
    assert all(h.version == champion for h in load.hits if h.at > rolled_back_at)
    seconds = _breach_to_rollback(load, outcome, bad)
    record_property("breach_to_rollback_seconds", round(seconds, 2))
    print(f"\nerror breach -> rollback done: {seconds:.2f}s")
    assert seconds < 15
    tags = client.get_model_version(MODEL, bad).tags
    assert tags["slipway.rollout.analysis"] == "rolled_back"
    assert "slipway.rollout.gitops" not in tags  # rollback writes nothing to git


def test_slow_challenger_is_rolled_back(
    world: World, setup: dict[str, Any], record_property: Any
) -> None:
    champion, slow = world.versions[1], world.versions[0]
    with _start(world, setup, champion) as load:
        time.sleep(1)
        outcome = _rollout(world, setup, slow, fault_latency_ms=400)
        time.sleep(1)
    assert outcome.decision == "rolled_back", outcome.reason
    assert "p99" in outcome.reason
    assert load.statuses() == {200}
    assert aliases.version_by_alias(world.client(), MODEL, aliases.CHAMPION).version == champion
    seconds = _breach_to_rollback(load, outcome, slow)
    record_property("latency_breach_to_rollback_seconds", round(seconds, 2))
    print(f"\nlatency breach -> rollback done: {seconds:.2f}s")
    assert seconds < 15


@pytest.fixture(scope="module")
def skewed(world: World) -> str:
    """A third version trained on data whose labels are mostly positive (a broken label
    join: every real churner plus the 90% of customers with the shortest tenure): it
    answers without errors and as fast as the champion, but almost every score is high.
    Only the score gate can tell.
    (A label-INVERTED model would not do here: on this data its score distribution is
    nearly the champion's mirrored, PSI ~0.26; the shadow phase's per-request agreement
    is what catches that one.)"""
    data = world.state / "train-skewed.csv"
    frame = synthetic.generate(2000, 3)
    # The extra positives follow a feature (so the model learns them and still passes the
    # gate), not chance (labels at random would give it an AUC of ~0.5, below the gate's).
    extra = frame["tenure_months"] < frame["tenure_months"].quantile(0.9)
    frame["churned"] = (frame["churned"].astype(bool) | extra).astype(int)
    tables.write_table(frame, data)
    result = run_pipeline(world.client(), world.settings, data)
    assert result.registration is not None, result.decision
    return result.registration.version


def test_challenger_with_different_scores_is_rolled_back(
    world: World, setup: dict[str, Any], skewed: str
) -> None:
    champion = world.versions[1]
    with _start(world, setup, champion) as load:
        time.sleep(1)
        outcome = _rollout(world, setup, skewed)
    assert outcome.decision == "rolled_back", outcome.reason
    assert "PSI" in outcome.reason, outcome.reason
    assert "error rate" not in outcome.reason and "p99" not in outcome.reason
    assert load.statuses() == {200}
    assert aliases.version_by_alias(world.client(), MODEL, aliases.CHAMPION).version == champion
    state = _router(world)
    assert [(b["model_version"], b["weight"]) for b in state["backends"]] == [(champion, 100)]
    scores = [m for m in outcome.steps[-1].measurements if m["metric"] == "scores"]
    assert scores[0]["outcome"] == "fail" and scores[0]["statistic"] > 2.0
    tags = world.client().get_model_version(MODEL, skewed).tags
    analysis = json.loads(tags[f"slipway.rollout.step.{len(outcome.steps)}.analysis"])
    assert analysis["outcome"] == "fail"


def test_a_step_without_traffic_is_inconclusive_then_rolled_back(
    world: World, setup: dict[str, Any]
) -> None:
    """No clients at all: every window is inconclusive (no canary requests), the step is
    held max_extensions (3) times, then rolled back; the champion keeps serving."""
    champion, other = world.versions[1], world.versions[0]
    load = _start(world, setup, champion)  # serving, but no load is started
    outcome = _rollout(world, setup, other)
    assert not load.hits
    assert outcome.decision == "rolled_back", outcome.reason
    assert "inconclusive after 3 extensions" in outcome.reason
    (step,) = outcome.steps
    assert step.extensions == 3 and step.outcome == "inconclusive"
    judged = [c["outcome"] for c in step.checks if c["kind"] == "judgement"]
    assert judged == ["inconclusive"] * 4
    assert aliases.version_by_alias(world.client(), MODEL, aliases.CHAMPION).version == champion
    state = _router(world)
    assert [(b["model_version"], b["weight"]) for b in state["backends"]] == [(champion, 100)]
    decision = json.loads((world.state / DECISIONS_FILE).read_text().splitlines()[-1])
    assert decision["steps"][0]["outcome"] == "inconclusive"


def test_abort_and_status_from_the_cli(world: World, setup: dict[str, Any], tmp_path: Path) -> None:
    champion, other = world.versions[1], world.versions[0]
    # Long windows: the abort (a CLI process, seconds to start) must land mid-rollout.
    config = json.loads(setup["config"].read_text())
    config["rollout"]["window_seconds"] = 120
    slow = {**setup, "config": tmp_path / "slow.yaml"}
    slow["config"].write_text(json.dumps(config))
    results: list[RolloutOutcome] = []
    # An earlier test's state file names the same version: wait for this rollout's own.
    (world.state / service.STATE_FILE).unlink(missing_ok=True)
    with _start(world, slow, champion) as load:
        thread = threading.Thread(target=lambda: results.append(_rollout(world, slow, other)))
        thread.start()
        state_file = world.state / service.STATE_FILE
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            state = json.loads(state_file.read_text()) if state_file.exists() else {}
            if state.get("version") == other and state.get("steps"):
                break
            time.sleep(0.2)
        aborted = subprocess.run(
            [sys.executable, "-m", "slipway.cli", "rollout", "abort", "--config",
             str(slow["config"]), "--state-dir", str(world.state)],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        thread.join(timeout=60)
    assert aborted.returncode == 0, aborted.stderr
    assert "aborted" in aborted.stdout
    assert results[0].decision == "aborted"
    assert len(results[0].steps) == 1  # stopped inside the first (120 s) window
    assert load.statuses() == {200}
    assert aliases.version_by_alias(world.client(), MODEL, aliases.CHAMPION).version == champion
    status = subprocess.run(
        [sys.executable, "-m", "slipway.cli", "rollout", "status", "--config",
         str(setup["config"]), "--state-dir", str(world.state)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert status.returncode == 0, status.stderr
    shown = json.loads(status.stdout)
    assert shown["decision"] == "aborted"
    assert shown["traffic_now"] == {champion: 100}


def _slow_config(setup: dict[str, Any], tmp_path: Path) -> Path:
    # Long windows: the signal (sent once the first step began) lands mid-step.
    config = json.loads(setup["config"].read_text())
    config["rollout"]["window_seconds"] = 300
    path = tmp_path / "slow.yaml"
    path.write_text(json.dumps(config))
    return path


def _rollout_process(world: World, config: Path, version: str, log: Path) -> subprocess.Popen[str]:
    """A real `slipway rollout start`, its own process, waited on until its first step runs."""
    from slipway.rollout.state import STATE_FILE as DURABLE

    durable = world.state / DURABLE
    durable.unlink(missing_ok=True)
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "slipway.cli", "rollout", "start", "--version", version,
             "--config", str(config), "--state-dir", str(world.state)],
            stdout=out, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        state = json.loads(durable.read_text()) if durable.exists() else {}
        if state.get("version") == version and state.get("steps"):
            return proc
        assert proc.poll() is None, log.read_text()
        time.sleep(0.2)
    proc.kill()
    pytest.fail(f"the rollout never reached its first step:\n{log.read_text()}")


def _durable(world: World) -> dict[str, Any]:
    from slipway.rollout.state import STATE_FILE as DURABLE

    data: dict[str, Any] = json.loads((world.state / DURABLE).read_text())
    return data


def _split(world: World) -> list[tuple[str, int]]:
    return [(b["model_version"], b["weight"]) for b in _router(world)["backends"]]


def test_sigterm_rolls_back_before_the_process_goes(
    world: World, setup: dict[str, Any], tmp_path: Path
) -> None:
    champion, other = world.versions[1], world.versions[0]
    config = _slow_config(setup, tmp_path)
    with _start(world, setup, champion) as load:
        proc = _rollout_process(world, config, other, tmp_path / "rollout.log")
        assert _split(world) == [(champion, 90), (other, 10)]
        proc.send_signal(signal.SIGTERM)
        returncode = proc.wait(timeout=120)
        time.sleep(1)
    log = (tmp_path / "rollout.log").read_text()
    assert returncode == 128 + signal.SIGTERM, log
    # The champion serves all traffic; the canary's server is gone.
    assert _split(world) == [(champion, 100)]
    assert "model-canary" not in world.stack.services()
    assert aliases.version_by_alias(world.client(), MODEL, aliases.CHAMPION).version == champion
    # The decision recorded says why, in the backend's record and the durable state.
    decision = json.loads((world.state / DECISIONS_FILE).read_text().splitlines()[-1])
    assert decision["decision"] == "rolled_back"
    assert "SIGTERM" in decision["reason"], decision
    assert _durable(world)["phase"] == "rolled_back"
    assert load.statuses() == {200}, [h for h in load.hits if h.status != 200][:5]


def test_a_killed_rollout_is_rolled_back_by_recover(
    world: World, setup: dict[str, Any], tmp_path: Path
) -> None:
    champion, other = world.versions[1], world.versions[0]
    config = _slow_config(setup, tmp_path)
    with _start(world, setup, champion) as load:
        proc = _rollout_process(world, config, other, tmp_path / "rollout.log")
        proc.kill()  # SIGKILL: no handler runs, as with the OOM killer
        proc.wait(timeout=60)
        # What the in-process fail-safe could not undo: the canary keeps its share.
        assert _split(world) == [(champion, 90), (other, 10)]
        assert _durable(world)["phase"] == "running"
        recovered = subprocess.run(
            [sys.executable, "-m", "slipway.cli", "rollout", "recover", "--model", MODEL,
             "--config", str(config), "--state-dir", str(world.state)],
            capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        time.sleep(1)
    assert recovered.returncode == 0, recovered.stderr
    assert recovered.stdout.startswith(f"recovered: the rollout of version {other} was left")
    assert _split(world) == [(champion, 100)]
    assert "model-canary" not in world.stack.services()
    assert aliases.version_by_alias(world.client(), MODEL, aliases.CHAMPION).version == champion
    decision = json.loads((world.state / DECISIONS_FILE).read_text().splitlines()[-1])
    assert decision["decision"] == "rolled_back"
    assert decision["reason"].startswith("recovered:")
    assert _durable(world)["phase"] == "rolled_back"
    assert load.statuses() == {200}, [h for h in load.hits if h.status != 200][:5]
