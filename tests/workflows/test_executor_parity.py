"""The executor's Argo parity features on small fake workflows (no servers): loops with
parallelism, retryStrategy, onExit with the workflow's status and failures, mutexes,
step caching (its key, ignoring inputs, never-cached steps, eviction) and resume."""

# No `from __future__ import annotations`: Hera reads the fake steps' annotations as objects.
import json
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

import pytest
from hera.workflows import DAG, Parameter, WorkflowTemplate, script
from hera.workflows import models as m

from slipway.errors import WorkflowError
from slipway.workflow.executor import InProcessSteps, LocalExecutor, RunResult
from slipway.workflow.executor.cache import StepCache
from slipway.workflow.executor.plan import TaskPlan, TemplatePlan
from slipway.workflow.executor.retry import RetryPlan
from slipway.workflow.transient import TransientStepError, exit_code_on_transient, is_transient

IMAGE = "example.org/fake:1"
EVENTS: list[str] = []
LOCK = threading.Lock()
RUNNING = {"now": 0, "most": 0}
FAILS = {"left": 0, "transient": True}
RETRY = m.RetryStrategy(
    limit=m.IntOrString(root="2"),
    retry_policy="OnFailure",
    expression="asInt(lastRetry.exitCode) == 75",
    backoff=m.Backoff(duration="2s", factor=m.IntOrString(root="3"), cap="5s"),
)
MUTEX = m.Synchronization(mutexes=[m.Mutex(name="model-{{workflow.parameters.model}}")])


@pytest.fixture(autouse=True)
def _reset() -> None:
    EVENTS.clear()
    RUNNING.update(now=0, most=0)
    FAILS.update(left=0, transient=True)


@script(constructor="runner", image=IMAGE)
def propose(count: int) -> Annotated[str, Parameter(name="items")]:
    return json.dumps([{"n": str(i), "tag": f"t{i}"} for i in range(count)])


@script(constructor="runner", image=IMAGE)
def work(n: str, tag: str = "") -> None:
    with LOCK:
        RUNNING["now"] += 1
        RUNNING["most"] = max(RUNNING["most"], RUNNING["now"])
        EVENTS.append(f"work {n} {tag}")
    time.sleep(0.05)
    with LOCK:
        RUNNING["now"] -= 1


@script(constructor="runner", image=IMAGE, retry_strategy=RETRY)
def flaky(path: str = "") -> Annotated[str, Parameter(name="out")]:
    EVENTS.append("flaky")
    if FAILS["left"] > 0:
        FAILS["left"] -= 1
        with exit_code_on_transient():
            if FAILS["transient"]:
                raise ConnectionError("connection refused")
            raise ValueError("a bug")
    return "ok"


@script(constructor="runner", image=IMAGE, synchronization=MUTEX)
def guarded(n: str) -> None:
    work(n)  # type: ignore[call-arg]  # the plain function under Hera's decorator


@script(constructor="runner", image=IMAGE, annotations={"slipway.io/cache": "never"})
def side_effect(path: str = "") -> Annotated[str, Parameter(name="done")]:
    EVENTS.append("side-effect")
    return "yes"


@script(constructor="runner", image=IMAGE)
def handler(status: str, failures: str) -> Annotated[str, Parameter(name="seen")]:
    EVENTS.append(f"exit {status}")
    return f"{status} {[f['displayName'] for f in json.loads(failures)]}"


def _template(build: object, params: list[Parameter], on_exit: bool = False,
              parallelism: int | None = None) -> WorkflowTemplate:  # fmt: skip
    wt = WorkflowTemplate(
        name="parity", entrypoint="main", arguments=params,
        on_exit="exit-handler" if on_exit else None,
    )  # fmt: skip
    with wt, DAG(name="main", parallelism=parallelism):
        assert callable(build)
        build()
    if on_exit:
        with wt, DAG(name="exit-handler"):
            handler(arguments={"status": "{{workflow.status}}",
                               "failures": "{{workflow.failures}}"})  # fmt: skip
    return wt


def _loop(parallelism: int | None) -> WorkflowTemplate:
    def build() -> None:
        p = propose(arguments={"count": "{{workflow.parameters.count}}"})
        w = work(arguments={"n": "{{item.n}}", "tag": "{{item.tag}}"},
                 with_param=p.get_parameter("items"))  # fmt: skip
        p >> w

    return _template(build, [Parameter(name="count", value="5")], parallelism=parallelism)


def test_with_param_fans_out_one_step_an_item_at_most_parallelism_at_once() -> None:
    result = LocalExecutor().run(_loop(2), {"count": "5"})
    result.raise_for_failure()
    loop = result.task("work")
    assert [c.name for c in loop.children] == [f"work({i}:{{\"n\":\"{i}\",\"tag\":\"t{i}\"}})"
                                               for i in range(5)]  # fmt: skip
    assert sorted(EVENTS) == [f"work {i} t{i}" for i in range(5)]
    assert RUNNING["most"] == 2


def test_without_parallelism_every_item_runs_at_once_and_an_empty_list_skips() -> None:
    LocalExecutor().run(_loop(None), {"count": "4"}).raise_for_failure()
    assert RUNNING["most"] == 4
    empty = LocalExecutor().run(_loop(None), {"count": "0"})
    assert empty.task("work").status == "Skipped"
    assert empty.status == "Succeeded"


def test_with_items_loops_over_literal_items() -> None:
    def build() -> None:
        work(arguments={"n": "{{item}}"}, with_items=["a", "b"])

    LocalExecutor().run(_template(build, [])).raise_for_failure()
    assert sorted(EVENTS) == ["work a ", "work b "]


def test_with_param_that_is_not_a_json_list_fails_the_task() -> None:
    def build() -> None:
        work(arguments={"n": "{{item}}"}, with_param="{{workflow.parameters.items}}")

    result = LocalExecutor().run(_template(build, [Parameter(name="items", value="{}")]))
    assert result.task("work").status == "Failed"
    assert "not a JSON list" in result.task("work").message


def _flaky() -> WorkflowTemplate:
    def build() -> None:
        flaky()

    return _template(build, [])


def test_a_transient_failure_is_retried_with_backoff_then_succeeds() -> None:
    FAILS["left"] = 2
    waits: list[float] = []
    result = LocalExecutor(sleep=waits.append).run(_flaky())
    result.raise_for_failure()
    assert result.task("flaky").attempts == 3
    assert waits == [2.0, 5.0]  # 2s, then 2s*3 capped at 5s
    assert EVENTS == ["flaky"] * 3


def test_retries_stop_at_the_limit_and_a_non_transient_failure_is_not_retried() -> None:
    FAILS["left"] = 5
    waits: list[float] = []
    result = LocalExecutor(sleep=waits.append).run(_flaky())
    assert result.task("flaky").status == "Failed"
    assert result.task("flaky").attempts == 3  # the first try and limit=2 retries
    EVENTS.clear()
    FAILS.update(left=1, transient=False)
    result = LocalExecutor(sleep=waits.append).run(_flaky())
    assert result.task("flaky").status == "Failed"
    assert result.task("flaky").attempts == 1
    assert "a bug" in result.task("flaky").message


def test_retry_policies_and_max_duration() -> None:
    assert RetryPlan(2, "Always").retries(0, 1, 0.0)
    assert not RetryPlan(2, "Always").retries(2, 1, 0.0)
    assert not RetryPlan(2, "OnError").retries(0, 1, 0.0)  # no pod errors here
    assert RetryPlan(2, "OnTransientError").retries(0, 75, 0.0)
    assert not RetryPlan(2, "OnTransientError").retries(0, 1, 0.0)
    assert not RetryPlan(2, "OnFailure", duration=10, max_duration=5).retries(0, 1, 0.0)
    assert RetryPlan(2, "OnFailure", exit_code=("!=", 2)).retries(0, 1, 0.0)
    assert not RetryPlan(2, "OnFailure", exit_code=("!=", 2)).retries(0, 2, 0.0)


def test_transient_errors_are_told_apart() -> None:
    class Status(Exception):
        def get_http_status_code(self) -> int:
            return 503

    assert is_transient(TimeoutError())
    assert is_transient(Status())
    assert is_transient(RuntimeError("wrapped").with_traceback(None).__class__("x")) is False
    wrapped = RuntimeError("mlflow failed")
    wrapped.__cause__ = ConnectionRefusedError()
    assert is_transient(wrapped)
    assert not is_transient(ValueError("bad data"))
    assert TransientStepError(OSError()).code == 75


def _failing_with_exit() -> WorkflowTemplate:
    def build() -> None:
        a = work(name="first", arguments={"n": "1"})
        b = flaky(name="second")
        c = work(name="third", arguments={"n": "3"})
        a >> b >> c

    return _template(build, [], on_exit=True)


def test_the_exit_handler_runs_on_success_and_on_failure_with_status_and_failures() -> None:
    ok = LocalExecutor().run(_failing_with_exit())
    ok.raise_for_failure()
    assert ok.task("handler").outputs == {"seen": "Succeeded []"}
    assert EVENTS[-1] == "exit Succeeded"

    EVENTS.clear()
    FAILS.update(left=1, transient=False)
    failed = LocalExecutor().run(_failing_with_exit())
    assert failed.status == "Failed"
    assert [t.status for t in failed.tasks] == ["Succeeded", "Failed", "Omitted"]
    assert failed.task("handler").status == "Succeeded"
    assert failed.task("handler").outputs == {"seen": "Failed ['second']"}
    assert EVENTS == ["work 1 ", "flaky", "exit Failed"]


def test_a_mutex_keeps_two_runs_of_one_model_apart_but_not_of_two(tmp_path: Path) -> None:
    def build() -> None:
        guarded(arguments={"n": "{{workflow.parameters.model}}"})

    def run(model: str) -> RunResult:
        params = [Parameter(name="model", value=model)]
        return LocalExecutor(state=tmp_path).run(_template(build, params))

    def together(models: list[str]) -> int:
        RUNNING.update(now=0, most=0)
        threads = [threading.Thread(target=run, args=(m_,)) for m_ in models]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return RUNNING["most"]

    assert together(["a", "a", "a"]) == 1
    assert (tmp_path / "mutexes" / "model-a.lock").exists()
    assert together(["a", "b"]) == 2


def _cached(path: Path) -> WorkflowTemplate:
    def build() -> None:
        f = flaky(arguments={"path": str(path)})
        s = side_effect(arguments={"path": str(path)})
        f >> s

    return _template(build, [])


def test_an_unchanged_step_comes_from_the_cache_and_a_changed_file_reruns_it(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data.csv"
    data.write_text("a\n1\n")
    cache = StepCache(tmp_path / "cache")
    first = LocalExecutor(state=tmp_path, cache=cache).run(_cached(data))
    second = LocalExecutor(state=tmp_path, cache=cache).run(_cached(data))
    assert [t.reused for t in first.tasks] == [None, None]
    assert [t.reused for t in second.tasks] == ["cached", None]  # side effects run each time
    assert second.task("flaky").outputs == {"out": "ok"}
    assert second.task("flaky").message == f"cached from {first.name}"
    assert EVENTS == ["flaky", "side-effect", "side-effect"]

    data.write_text("a\n2\n")  # same name, new content
    third = LocalExecutor(state=tmp_path, cache=cache).run(_cached(data))
    assert third.task("flaky").reused is None
    # ... unless the user leaves that input out of the key
    data.write_text("a\n3\n")
    ignoring = StepCache(tmp_path / "cache", ignore={"path"})
    LocalExecutor(state=tmp_path, cache=ignoring).run(_cached(data))
    data.write_text("a\n4\n")
    assert (
        LocalExecutor(state=tmp_path, cache=ignoring).run(_cached(data)).task("flaky").reused
        == "cached"
    )
    off = StepCache(tmp_path / "cache", enabled=False)  # --no-cache
    assert LocalExecutor(state=tmp_path, cache=off).run(_cached(data)).task("flaky").reused is None
    assert cache.evict("flaky") >= 2
    assert (
        LocalExecutor(state=tmp_path, cache=cache).run(_cached(data)).task("flaky").reused is None
    )


def test_a_configuration_override_is_part_of_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = StepCache(tmp_path / "cache")
    data = tmp_path / "data.csv"
    data.write_text("x")
    LocalExecutor(state=tmp_path, cache=cache).run(_cached(data))
    monkeypatch.setenv("SLIPWAY_TRAINING__EPOCHS", "7")
    assert (
        LocalExecutor(state=tmp_path, cache=cache).run(_cached(data)).task("flaky").reused is None
    )


def test_resume_reruns_from_the_failed_step_reusing_what_succeeded(tmp_path: Path) -> None:
    FAILS.update(left=1, transient=False)
    executor = LocalExecutor(state=tmp_path)
    failed = executor.run(_failing_with_exit())
    assert failed.status == "Failed"
    record = json.loads((tmp_path / "runs" / f"{failed.name}.json").read_text())
    assert [t["status"] for t in record["tasks"]] == ["Succeeded", "Failed", "Omitted"]
    EVENTS.clear()
    resumed = executor.run(_failing_with_exit(), resume=failed.name)
    resumed.raise_for_failure()
    assert [t.reused for t in resumed.tasks] == ["resumed", None, None]
    assert EVENTS == ["flaky", "work 3 ", "exit Succeeded"]  # "first" not run again


def test_resume_refuses_an_unknown_run_or_another_workflows(tmp_path: Path) -> None:
    executor = LocalExecutor(state=tmp_path)
    with pytest.raises(WorkflowError, match="no run 'nope' to resume"):
        executor.run(_flaky(), resume="nope")
    (tmp_path / "runs").mkdir(exist_ok=True)
    (tmp_path / "runs" / "other-1.json").write_text(json.dumps({"workflow": "other"}))
    with pytest.raises(WorkflowError, match="is a run of other"):
        executor.run(_flaky(), resume="other-1")
    (tmp_path / "runs" / "broken.json").write_text("{")
    with pytest.raises(WorkflowError, match="broken"):
        executor.run(_flaky(), resume="broken")
    with pytest.raises(WorkflowError, match="state folder"):
        LocalExecutor().run(_flaky(), resume="x")


class _CountingSteps:
    """A StepRunner other than the in-process one (as the container runner is): the cache
    and resume belong to the executor, so they hold for any runner."""

    def __init__(self) -> None:
        self.ran: list[str] = []
        self.inner = InProcessSteps()

    def check(self, tasks: list[TaskPlan], where: str) -> None:
        self.inner.check(tasks, where)

    def run(
        self,
        template: TemplatePlan,
        inputs: Mapping[str, str],
        scope: Mapping[str, str],
        config_maps: Mapping[str, Mapping[str, str]],
        where: str,
    ) -> dict[str, str]:
        self.ran.append(template.name)
        return self.inner.run(template, inputs, scope, config_maps, where)


def test_every_step_runner_shares_the_cache_and_resume(tmp_path: Path) -> None:
    data = tmp_path / "data.csv"
    data.write_text("x")
    cache = StepCache(tmp_path / "cache")
    steps = _CountingSteps()
    LocalExecutor(state=tmp_path, cache=cache).run(_cached(data))  # in-process fills it
    LocalExecutor(steps=steps, state=tmp_path, cache=cache).run(_cached(data))
    assert steps.ran == ["side-effect"]  # flaky came from the cache the other runner filled

    FAILS.update(left=1, transient=False)
    failed = LocalExecutor(state=tmp_path).run(_failing_with_exit())
    steps.ran.clear()
    LocalExecutor(steps=steps, state=tmp_path).run(_failing_with_exit(), resume=failed.name)
    assert steps.ran == ["flaky", "work", "handler"]
