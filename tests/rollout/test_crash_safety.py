"""Crash safety and the promotion's order (backend, alias, git), on the KServe backend.

Real parts: slipway's KServeBackend through the real ``kubernetes`` client, MLflow's real
model registry (a SQLite store, no server process: the registry code is the same), a real
git repository for the GitOps record. Stand-ins: a Kubernetes API server with KServe's
controller (fakes.FakeKubernetes; neither can run here), and the metric source (healthy
figures, so that each test reaches the point it injects a fault at).

Each fault is injected at one point and the end state checked whole: which version serves,
where ``champion`` points, what git holds, what the durable state and the decision record
(the InferenceService annotation) say.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from mlflow import MlflowClient

from slipway.config import GitOpsSettings, RolloutSettings, Settings, load_settings
from slipway.registry import aliases
from slipway.registry.model_version import ModelVersion
from slipway.rollout.analysis import Snapshot, Stats
from slipway.rollout.backends.kserve import A_DECISION, A_STATE, model_of
from slipway.rollout.controller import RolloutController
from slipway.rollout.gitops import GitOpsRecorder, serving_model
from slipway.rollout.model_registry import MlflowChampion
from slipway.rollout.promotion import PromotionFailed, PromotionIncomplete, retrying
from slipway.rollout.records import BackendDecision
from slipway.rollout.service import recover, roll_back_unfinished
from slipway.rollout.state import (
    Action,
    FileStateStore,
    Owner,
    RolloutState,
    ServedModel,
    recovery_plan,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fakes import FakeKubernetes
from test_kserve_backend import CANARY, CHAMPION, NAME, backend_for, custom_container_isvc

GOOD = Stats(100, 0, 5.0)
VALUES_PATH = "argocd/values/dev/model-serving.yaml"
VALUES = f"""\
# model-serving, dev (test copy)
models:
  - name: {NAME}
    modelVersion: "3"
    runId: run-3
    storageUri: {CHAMPION.storage_uri}
"""
FAST = RolloutSettings(
    steps=[10, 50, 100], window_seconds=2, check_interval_seconds=1, min_requests=10,
    promotion_attempts=3, promotion_backoff_seconds=0, promotion_backoff_max_seconds=0,
)  # fmt: skip


class Metrics:
    def snapshot(self, model: str, canary: str, champion: str, seconds: float) -> Snapshot:
        return Snapshot(GOOD, GOOD)

    def wait_for_series(self, model: str, version: str, timeout: float) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class Faulty:
    """``target`` with ``method`` failing its first ``times`` calls (all, when None)."""

    def __init__(self, target: Any, method: str, times: int | None = None) -> None:
        self._target, self._method, self._times, self.calls = target, method, times, 0

    def __getattr__(self, name: str) -> Any:
        real = getattr(self._target, name)
        if name != self._method:
            return real

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            if self._times is None or self.calls <= self._times:
                raise ConnectionError(f"injected: {self._method} failed")
            return real(*args, **kwargs)

        return call


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.fixture(scope="module")
def registry_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A real MLflow registry (SQLite store) with versions 1..4 of the model."""
    uri = f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.create_registered_model(NAME)
    for n in range(1, 5):
        client.create_model_version(NAME, f"s3://bucket/models/churn/{n}")
    return uri


@pytest.fixture
def world(registry_db: str, tmp_path: Path, crd_schema_dir: Path) -> Iterator[SimpleNamespace]:
    client = MlflowClient(tracking_uri=registry_db, registry_uri=registry_db)
    aliases.promote(client, NAME, CHAMPION.version, "test setup")
    repo = tmp_path / "gitops"
    (repo / VALUES_PATH).parent.mkdir(parents=True)
    (repo / VALUES_PATH).write_text(VALUES)
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@localhost", "add", ".")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@localhost", "commit", "-q", "-m", "i")
    api = FakeKubernetes()
    with api.serving() as url:
        backend = backend_for(url, crd_schema_dir)
        backend.create(custom_container_isvc())
        rollout = FAST.model_copy(
            update={"gitops": GitOpsSettings(repo_dir=repo, environment="dev")}
        )
        base = load_settings(None)
        settings = base.model_copy(
            update={
                "tracking": base.tracking.model_copy(
                    update={"model_name": NAME, "tracking_uri": registry_db}
                ),
                "rollout": rollout,
            }
        )
        runtime = SimpleNamespace(
            settings=settings, mlflow=client, state_dir=tmp_path / "state",
            process_alive=lambda pid: False,
        )  # fmt: skip
        yield SimpleNamespace(
            api=api, url=url, backend=backend, client=client, repo=repo, runtime=runtime,
            settings=settings,
        )  # fmt: skip


def _run(w: SimpleNamespace, router: Any = None, registry: Any = None, git: Any = None) -> Any:
    clock = Clock()
    controller = RolloutController(
        FAST, router or w.backend, Metrics(), w.backend.abort,
        registry or MlflowChampion(w.client), recorders=[BackendDecision(w.backend)],
        clock=clock, sleep=clock.sleep, store=w.backend.state,
        git=git or GitOpsRecorder(w.settings.rollout.gitops),
        retry=retrying(FAST, sleep=lambda s: None),
    )  # fmt: skip
    return controller.run(CANARY, CHAMPION)


def _served(w: SimpleNamespace) -> tuple[str, Any]:
    isvc = w.api.objects[("model-serving", NAME)]
    return model_of(isvc)["version"], isvc["spec"]["predictor"].get("canaryTrafficPercent")


def _champion(w: SimpleNamespace) -> str:
    return str(aliases.version_by_alias(w.client, NAME, aliases.CHAMPION).version)


def _git_version(w: SimpleNamespace) -> str | None:
    branch = f"slipway/promote-{NAME}-v{CANARY.version}"
    if not _git(w.repo, "branch", "--list", branch):
        return None
    model = serving_model(_git(w.repo, "show", f"{branch}:{VALUES_PATH}"), NAME)
    return model.version if model else None


def _annotation(w: SimpleNamespace, key: str) -> dict[str, Any]:
    raw = w.api.objects[("model-serving", NAME)]["metadata"]["annotations"][key]
    data: dict[str, Any] = json.loads(raw)
    return data


def test_promotion_without_faults(world: SimpleNamespace) -> None:
    outcome = _run(world)
    assert outcome.decision == "promoted", outcome.reason
    assert _served(world) == ("4", None)
    assert _champion(world) == "4"
    assert _git_version(world) == "4"
    state = _annotation(world, A_STATE)
    assert (state["phase"], state["done"]) == ("promoted", ["backend", "alias", "git"])


def test_backend_promote_failing_is_compensated(world: SimpleNamespace) -> None:
    router = Faulty(world.backend, "promote")
    with pytest.raises(PromotionFailed, match="promotion failed at the backend"):
        _run(world, router=router)
    assert router.calls == FAST.promotion_attempts  # retried, then given up
    assert _served(world) == ("3", None)  # the champion alone, as before
    assert _champion(world) == "3"
    assert _git_version(world) is None
    decision = _annotation(world, A_DECISION)
    assert decision["decision"] == "rolled_back"
    assert "promotion failed at the backend" in decision["reason"]
    assert _annotation(world, A_STATE)["phase"] == "rolled_back"


def test_a_transient_alias_failure_is_retried(world: SimpleNamespace) -> None:
    registry = Faulty(MlflowChampion(world.client), "promote", times=2)
    outcome = _run(world, registry=registry)
    assert outcome.decision == "promoted"
    assert registry.calls == 3
    assert (_served(world), _champion(world), _git_version(world)) == (("4", None), "4", "4")


def test_alias_failing_after_the_backend_is_resumed_by_recover(world: SimpleNamespace) -> None:
    with pytest.raises(PromotionIncomplete, match=r"alias stage.*rollout recover"):
        _run(world, registry=Faulty(MlflowChampion(world.client), "promote"))
    # Not half-done in silence: the new version serves, the rest is recorded as pending.
    assert _served(world) == ("4", None)
    assert _champion(world) == "3"
    assert _git_version(world) is None
    state = _annotation(world, A_STATE)
    assert (state["phase"], state["done"]) == ("promoting", ["backend"])
    assert _annotation(world, A_DECISION)["decision"] == "promotion_pending"
    message = recover(world.runtime, world.backend).message
    assert "promotion finished (alias, git)" in message
    assert (_served(world), _champion(world), _git_version(world)) == (("4", None), "4", "4")
    assert _annotation(world, A_STATE)["phase"] == "promoted"
    assert _annotation(world, A_DECISION)["decision"] == "promoted"


def test_git_failing_after_the_alias_is_resumed_by_recover(world: SimpleNamespace) -> None:
    git = Faulty(GitOpsRecorder(world.settings.rollout.gitops), "record")
    with pytest.raises(PromotionIncomplete, match="git stage"):
        _run(world, git=git)
    assert git.calls == FAST.promotion_attempts
    assert (_served(world), _champion(world), _git_version(world)) == (("4", None), "4", None)
    state = _annotation(world, A_STATE)
    assert (state["phase"], state["done"]) == ("promoting", ["backend", "alias"])
    decision = _annotation(world, A_DECISION)
    assert decision["decision"] == "promotion_pending"
    assert "git stage" in decision["reason"]
    assert "promotion finished (git)" in recover(world.runtime, world.backend).message
    assert _git_version(world) == "4"
    assert _annotation(world, A_STATE)["phase"] == "promoted"


def _killed_mid_step(w: SimpleNamespace, percent: int) -> None:
    """What a controller killed (SIGKILL, OOM, eviction) during a step leaves behind."""
    w.backend.deploy_canary(CANARY, CHAMPION, 10)
    w.backend.set_canary_traffic(percent)
    w.backend.state.save(
        RolloutState(
            model=NAME, version="4", champion="3", canary=ServedModel.of(CANARY),
            step=1, traffic=percent, owner=Owner(host="train-and-promote-x-pod", pid=1),
        )
    )  # fmt: skip


def test_recover_rolls_back_a_killed_rollout(world: SimpleNamespace) -> None:
    _killed_mid_step(world, 50)
    assert _served(world) == ("4", 50)
    message = recover(world.runtime, world.backend).message
    assert message.startswith("recovered: the rollout of version 4 was left running at 50%")
    assert (_served(world), _champion(world), _git_version(world)) == (("3", None), "3", None)
    assert _annotation(world, A_STATE)["phase"] == "rolled_back"
    decision = _annotation(world, A_DECISION)
    assert decision["decision"] == "rolled_back"
    assert "recovered" in decision["reason"]
    # A second recover finds nothing in flight and changes nothing.
    assert "no rollout of" in recover(world.runtime, world.backend).message
    assert _served(world) == ("3", None)


def test_recover_finishes_a_promotion_whose_backend_stage_went_through(
    world: SimpleNamespace,
) -> None:
    # Killed right after the backend promoted, before the state said so.
    world.backend.deploy_canary(CANARY, CHAMPION, 10)
    world.backend.promote()
    state = RolloutState(
        model=NAME, version="4", champion="3", canary=ServedModel.of(CANARY),
        phase="promoting", step=2, traffic=100, owner=Owner(host="gone", pid=1),
    )  # fmt: skip
    world.backend.state.save(state)
    assert "promotion finished (alias, git)" in recover(world.runtime, world.backend).message
    assert (_served(world), _champion(world), _git_version(world)) == (("4", None), "4", "4")


def test_roll_back_unfinished_from_settings_alone(
    world: SimpleNamespace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The exit handler's call: settings and a model name, nothing else (kubeconfig to
    the fake API server)."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1", "kind": "Config", "current-context": "fake",
                "clusters": [{"name": "fake", "cluster": {"server": world.url}}],
                "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "u"}}],
                "users": [{"name": "u", "user": {"token": "not-a-secret"}}],
            }
        )
    )  # fmt: skip
    monkeypatch.setenv("SLIPWAY_HOME", str(tmp_path / "home"))
    r = world.settings.rollout
    settings: Settings = world.settings.model_copy(
        update={
            "rollout": r.model_copy(
                update={
                    "backend": "kserve",
                    "kserve": r.kserve.model_copy(
                        update={"kubeconfig": kubeconfig, "ready_timeout_seconds": 5}
                    ),
                }
            )
        }
    )
    assert "no rollout of" in roll_back_unfinished(settings, NAME)
    _killed_mid_step(world, 10)
    assert "rolled back" in roll_back_unfinished(settings, NAME)
    assert _served(world) == ("3", None)
    assert _champion(world) == "3"


def test_the_recovery_plan_for_each_state() -> None:
    import os
    import socket

    state = RolloutState(
        model=NAME, version="4", champion="3", canary=ServedModel.of(CANARY),
        owner=Owner(host=socket.gethostname(), pid=os.getpid()),
    )  # fmt: skip
    assert recovery_plan(state, owner_alive=True) == (Action.RUNNING_ELSEWHERE, [])
    assert recovery_plan(state, owner_alive=False) == (Action.ROLL_BACK, [])
    state.phase, state.done = "promoting", ["backend"]
    assert recovery_plan(state, owner_alive=False) == (Action.RESUME, ["alias", "git"])
    state.phase = "promoted"
    assert recovery_plan(state, owner_alive=False) == (Action.NOTHING, [])
    assert recovery_plan(None, owner_alive=False) == (Action.NOTHING, [])


def test_the_local_state_file_is_atomic_and_names_itself_when_corrupt(tmp_path: Path) -> None:
    store = FileStateStore(tmp_path / "rollout-state.json")
    assert store.load() is None
    state = RolloutState(model=NAME, version="4", champion="3", canary=ServedModel.of(CANARY))
    store.save(state)
    assert store.load() == state
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".tmp"] == []
    store.path.write_text("{half")
    from slipway.errors import RolloutError

    with pytest.raises(RolloutError, match=r"rollout-state\.json"):
        store.load()


def test_state_is_written_before_the_canary_gets_traffic(world: SimpleNamespace) -> None:
    """Write-ahead: when the canary first serves, the durable state already says so."""
    seen: list[dict[str, Any]] = []

    class Spy:
        def __getattr__(self, name: str) -> Any:
            return getattr(world.backend, name)

        def deploy_canary(self, canary: ModelVersion, champion: ModelVersion, p: int) -> None:
            seen.append(_annotation(world, A_STATE))
            world.backend.deploy_canary(canary, champion, p)

        def set_canary_traffic(self, percent: int) -> None:
            seen.append(_annotation(world, A_STATE))
            world.backend.set_canary_traffic(percent)

    _run(world, router=Spy())
    assert [(s["phase"], s["traffic"]) for s in seen] == [
        ("running", 10), ("running", 50), ("running", 100),
    ]  # fmt: skip


def test_an_interrupt_during_promotion_is_not_retried() -> None:
    from slipway.rollout.promotion import is_transient
    from slipway.rollout.signals import Terminated

    calls = []

    def promote() -> None:
        calls.append(1)
        raise Terminated(15)

    with pytest.raises(Terminated):
        retrying(FAST, sleep=lambda s: None)(promote)
    assert calls == [1]
    assert not is_transient(KeyboardInterrupt())
    assert is_transient(ConnectionError("refused"))
