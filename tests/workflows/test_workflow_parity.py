"""The training workflow at Argo parity, run here for real: fan-out tuning, a transient
error retried, the exit handler, step caching (and what reruns when an input changes),
bad data stopping the run, and ``--resume``.

Nothing is faked but the faults themselves: the steps are slipway.workflow.templates,
MLflow is ``mlflow server`` in its own process (SQLite, local artifacts), the runtime and the
executor are the ones ``slipway workflow run-local`` builds (local_run). A transient error
is injected by making the pipeline's train step raise ConnectionError once; a failure that
a retry cannot fix by making it raise a DataError.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from slipway.data import synthetic, tables
from slipway.errors import DataError
from slipway.local.processes import Managed
from slipway.local.stack import start_mlflow
from slipway.pipeline import steps as pipeline_steps
from slipway.runtime import Runtime
from slipway.workflow import local_run, tuning
from slipway.workflow.executor import RunResult

pytestmark = pytest.mark.integration

ROWS = 1500
CACHE = local_run.CacheOptions()  # what run-local uses unless --no-cache


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Managed]:
    server = start_mlflow(tmp_path_factory.mktemp("parity-mlflow"))
    yield server
    server.stop()


@pytest.fixture
def runtime(
    mlflow_server: Managed,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> Runtime:
    """The runtime run-local builds, on the test's MLflow, a state folder and a model of its own."""
    model = "parity-" + request.node.name.removeprefix("test_").replace("_", "-")[:40].rstrip("-")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server.url)
    monkeypatch.setenv("SLIPWAY_TRAINING__EPOCHS", "2")
    monkeypatch.setenv("SLIPWAY_TRAINING__PROGRESS", "false")
    monkeypatch.setenv("SLIPWAY_TRACKING__MODEL_NAME", model)
    monkeypatch.setenv("SLIPWAY_TRACKING__EXPERIMENT", model)
    # Two epochs on a little data: a gate any fit passes, so that register has a model.
    for key, value in (("MIN_ACCURACY", "0.5"), ("MIN_ROC_AUC", "0.5"), ("MAX_LOG_LOSS", "2")):
        monkeypatch.setenv(f"SLIPWAY_GATE__{key}", value)
    # No canary runs in these tests (a first model is champion); Prometheus is never asked.
    monkeypatch.setenv("SLIPWAY_ROLLOUT__PROMETHEUS_URL", "http://127.0.0.1:9")
    return Runtime.load(state_dir=tmp_path / "state")


def _data(path: Path, seed: int = 1, broken: bool = False) -> Path:
    frame = synthetic.generate(ROWS, seed=seed)
    if broken:
        frame = frame.drop(columns=["age"])  # breaks the contract: a required column missing
    tables.write_table(frame, path)
    return path


def _statuses(result: RunResult) -> dict[str, str]:
    return {t.name: t.reused or t.status for t in [*result.tasks, *result.on_exit]}


def _no_sleep(seconds: float) -> None:
    del seconds


def test_tuning_fans_out_into_child_runs_and_the_best_trial_trains_the_model(
    runtime: Runtime, tmp_path: Path
) -> None:
    data = _data(tmp_path / "train.csv")
    result = local_run.run_training(
        runtime, data, target="register", tuning_trials=3, sleep=_no_sleep
    )
    result.raise_for_failure()
    fan_out = result.task("tune-trial")
    assert [c.status for c in fan_out.children] == ["Succeeded"] * 3
    run_id = result.task("validate-data").outputs["run-id"]
    client = runtime.mlflow
    parent = client.get_run(run_id)
    children = client.search_runs(
        [parent.info.experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{run_id}'"
    )
    assert len(children) == 3
    losses = {int(c.data.tags[tuning.TRIAL_TAG]): c.data.metrics[tuning.METRIC] for c in children}
    best = min(losses, key=losses.__getitem__)
    chosen = json.loads(result.task("pick-best").outputs["hyperparameters"])
    proposals = json.loads(result.task("propose-trials").outputs["trials"])
    assert chosen == json.loads(proposals[best]["params"])
    assert client.get_run(run_id).data.tags["slipway.tuning.best_trial"] == str(best)
    # train took the best trial's settings, not the config's
    logged = client.get_run(run_id).data.params
    for key, value in chosen.items():
        assert json.loads(logged[f"training.{key}"]) == pytest.approx(value)
    assert result.task("register").outputs["became-champion"] == "true"


def test_a_transient_error_is_retried_and_then_succeeds(
    runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = pipeline_steps.train_step
    calls: list[int] = []

    def flaky(*args: object, **kwargs: object) -> str | None:
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("MLflow connection reset (injected)")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pipeline_steps, "train_step", flaky)
    waits: list[float] = []
    result = local_run.run_training(
        runtime, _data(tmp_path / "train.csv"), target="register", sleep=waits.append,
        cache=local_run.CacheOptions(enabled=False),
    )  # fmt: skip
    result.raise_for_failure()
    assert result.task("train").attempts == 2
    assert waits == [5.0]  # the template's backoff: 5s before the first retry
    assert result.task("register").outputs["model-version"] == "1"


def test_a_failure_a_retry_cannot_fix_is_not_retried(
    runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise DataError("not a transient error (injected)")

    monkeypatch.setattr(pipeline_steps, "train_step", broken)
    waits: list[float] = []
    result = local_run.run_training(
        runtime, _data(tmp_path / "train.csv"), target="register", sleep=waits.append
    )
    assert result.task("train").status == "Failed"
    assert result.task("train").attempts == 1
    assert waits == []


def test_an_unchanged_rerun_comes_from_the_cache_and_a_change_reruns_what_it_affects(
    runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _data(tmp_path / "train.csv")
    started = time.monotonic()
    first = local_run.run_training(runtime, data, sleep=_no_sleep, cache=CACHE)
    first_seconds = time.monotonic() - started
    first.raise_for_failure()
    assert _statuses(first)["canary"] == "Skipped"  # a first model
    assert _statuses(first)["on-exit"] == "Succeeded"  # the exit handler runs on success too
    assert first.task("on-exit").outputs == {"outcome": "nothing to do"}

    started = time.monotonic()
    second = local_run.run_training(runtime, data, sleep=_no_sleep, cache=CACHE)
    second_seconds = time.monotonic() - started
    second.raise_for_failure()
    assert _statuses(second) == {
        "validate-data": "cached", "propose-trials": "cached", "tune-trial": "Skipped",
        "pick-best": "cached", "train": "cached", "evaluate": "cached",
        "register": "Succeeded",  # never cached: it runs, and finds the version it made
        "canary": "Skipped", "on-exit": "Succeeded",
    }  # fmt: skip
    assert second.task("register").outputs == first.task("register").outputs
    print(f"\nfirst run {first_seconds:.1f}s, unchanged second run {second_seconds:.1f}s")
    assert second_seconds <= 0.2 * first_seconds
    run_id = first.task("validate-data").outputs["run-id"]
    tag = runtime.mlflow.get_run(run_id).data.tags[local_run.CACHED_TAG]
    assert tag == "validate-data,propose-trials,pick-best,train,evaluate"
    assert "cached" in local_run.render_run(second)

    # A gate threshold: only the gate and what follows it run again.
    monkeypatch.setenv("SLIPWAY_GATE__MIN_ACCURACY", "0.4")
    gate = local_run.run_training(runtime, data, sleep=_no_sleep, cache=CACHE)
    gate.raise_for_failure()
    reran = {n for n, s in _statuses(gate).items() if s not in ("cached", "Skipped")}
    assert reran == {"evaluate", "register", "on-exit"}

    # A hyperparameter: the run that records it is new, so every step of it runs; the
    # trial proposals (the search space) come from the cache.
    monkeypatch.setenv("SLIPWAY_TRAINING__LEARNING_RATE", "0.002")
    lr = local_run.run_training(runtime, data, sleep=_no_sleep, cache=CACHE)
    lr.raise_for_failure()
    assert _statuses(lr)["propose-trials"] == "cached"
    reran = {n for n, s in _statuses(lr).items() if s not in ("cached", "Skipped")}
    assert reran == {"validate-data", "pick-best", "train", "evaluate", "register", "on-exit"}

    # New data (same path, new content): everything that reads it runs again.
    _data(data, seed=7)
    changed = local_run.run_training(runtime, data, sleep=_no_sleep, cache=CACHE)
    changed.raise_for_failure()
    assert _statuses(changed)["validate-data"] == "Succeeded"
    assert _statuses(changed)["train"] == "Succeeded"
    assert _statuses(changed)["evaluate"] == "Succeeded"

    # --no-cache runs everything; eviction empties the cache.
    uncached = local_run.run_training(
        runtime, data, target="validate-data", cache=local_run.CacheOptions(enabled=False)
    )
    assert _statuses(uncached)["validate-data"] == "Succeeded"
    # a caller that passes no cache options (the demo, a retraining from an alert) runs
    assert (
        _statuses(local_run.run_training(runtime, data, target="validate-data"))["validate-data"]
        == "Succeeded"
    )
    assert _statuses(uncached)["validate-data"] == "Succeeded"
    assert local_run.step_cache(runtime).evict() > 0
    assert not list((local_run.state_folder(runtime) / "cache").rglob("*.json"))


def test_bad_data_stops_at_validate_data_and_resume_continues_after_the_fix(
    runtime: Runtime, tmp_path: Path
) -> None:
    data = _data(tmp_path / "train.csv", broken=True)
    failed = local_run.run_training(runtime, data, sleep=_no_sleep)
    assert _statuses(failed) == {
        "validate-data": "Failed", "propose-trials": "Omitted", "tune-trial": "Omitted",
        "pick-best": "Omitted", "train": "Omitted", "evaluate": "Omitted",
        "register": "Omitted", "canary": "Omitted",
        "on-exit": "Succeeded",  # the exit handler runs on failure
    }  # fmt: skip
    assert failed.task("validate-data").attempts == 1  # bad data is not retried
    client = runtime.mlflow
    model = runtime.settings.tracking.model_name
    assert client.search_model_versions(f"name = '{model}'") == []  # nothing registered
    experiment = client.get_experiment_by_name(runtime.settings.tracking.experiment)
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FAILED"
    assert "validate-data" in run.data.tags["slipway.workflow.failure"]
    outcome = failed.task("on-exit").outputs["outcome"]
    assert "marked FAILED" in outcome
    assert f"no rollout of {model} in flight" in outcome  # the rollback was asked for

    _data(data)  # the data fixed where it was
    resumed = local_run.run_training(runtime, None, resume=failed.name, sleep=_no_sleep)
    resumed.raise_for_failure()
    assert resumed.parameters["data"] == failed.parameters["data"]
    assert _statuses(resumed)["validate-data"] == "Succeeded"  # from the step that failed
    assert resumed.task("register").outputs["model-version"] == "1"


def test_resume_reuses_the_steps_that_succeeded(
    runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = pipeline_steps.train_step

    def broken(*args: object, **kwargs: object) -> None:
        raise DataError("train broke (injected)")

    monkeypatch.setattr(pipeline_steps, "train_step", broken)
    no_cache = local_run.CacheOptions(enabled=False)
    data = _data(tmp_path / "train.csv")
    failed = local_run.run_training(runtime, data, target="register", cache=no_cache)
    assert _statuses(failed)["train"] == "Failed"
    run_id = failed.task("validate-data").outputs["run-id"]

    monkeypatch.setattr(pipeline_steps, "train_step", real)
    resumed = local_run.run_training(runtime, None, target="register", cache=no_cache,
                                     resume=failed.name)  # fmt: skip
    resumed.raise_for_failure()
    statuses = _statuses(resumed)
    assert statuses["validate-data"] == "resumed"
    assert resumed.task("validate-data").outputs["run-id"] == run_id  # the same MLflow run
    assert statuses["train"] == "Succeeded"
    assert resumed.task("register").outputs["model-version"] == "1"
    assert runtime.mlflow.get_run(run_id).info.status == "FINISHED"
