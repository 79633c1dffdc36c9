"""The local executor as an interpreter: fake steps, no servers, no MLflow.

Each workflow here is a small Hera workflow of fake runner scripts; the tests check the
order of calls, parameter passing, ``when``, failure propagation, and that every Argo
feature outside the supported subset is refused before any step runs.
"""

# No `from __future__ import annotations`: Hera reads the fake steps' annotations as objects.
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Annotated

import pytest
from hera.workflows import (
    DAG,
    ConfigMapEnvFrom,
    Container,
    Env,
    Parameter,
    Resource,
    SecretEnv,
    Workflow,
    WorkflowTemplate,
    script,
)
from hera.workflows import models as m

from slipway.config import environ, load_settings
from slipway.errors import StepFailed, WorkflowError
from slipway.local.stack import default_state_dir
from slipway.runtime import Runtime
from slipway.workflow.executor import (
    LocalExecutor,
    compile_workflow,
    evaluate_when,
    substitute,
)

CALLS: list[tuple[str, object]] = []
IMAGE = "example.org/fake:1"


@pytest.fixture(autouse=True)
def _clear_calls() -> None:
    CALLS.clear()


@script(constructor="runner", image=IMAGE)
def produce(count: int, label: str = "plain") -> Annotated[str, Parameter(name="value")]:
    CALLS.append(("produce", (count, label)))
    return f"{label}-{count * 2}"


@script(constructor="runner", image=IMAGE)
def consume(
    value: Annotated[str, Parameter(name="in-value")],
) -> tuple[Annotated[str, Parameter(name="length")], Annotated[bool, Parameter(name="long")]]:
    CALLS.append(("consume", value))
    return str(len(value)), len(value) > 6


@script(constructor="runner", image=IMAGE)
def explode(reason: str = "boom") -> None:
    CALLS.append(("explode", reason))
    raise RuntimeError(reason)


@script(
    constructor="runner",
    image=IMAGE,
    env=[
        Env(name="FAKE_MODEL", value="{{workflow.parameters.model}}"),
        Env(name="FAKE_INPUT", value="{{inputs.parameters.tag}}"),
        SecretEnv(name="FAKE_TOKEN", secret_name="absent", secret_key="token", optional=True),
    ],
    env_from=[ConfigMapEnvFrom(name="platform")],
)
def read_env(tag: str) -> Annotated[str, Parameter(name="seen")]:
    names = ("FAKE_MODEL", "FAKE_INPUT", "FAKE_TOKEN", "FAKE_URI")
    return ",".join(f"{n}={environ().get(n, '-')}" for n in names)


def _workflow(build: object, arguments: list[Parameter] | None = None) -> WorkflowTemplate:
    """A WorkflowTemplate whose DAG ``build()`` fills."""
    with (
        WorkflowTemplate(name="fake", entrypoint="main", arguments=arguments or []) as wt,
        DAG(name="main"),
    ):
        assert callable(build)
        build()
    return wt


def _chain() -> WorkflowTemplate:
    def build() -> None:
        p = produce(arguments={"count": "{{workflow.parameters.count}}"})
        c = consume(arguments={"in-value": p.get_parameter("value")})
        p >> c

    return _workflow(build, [Parameter(name="count", value="3")])


def test_parameters_flow_from_workflow_to_tasks_with_types_and_defaults() -> None:
    result = LocalExecutor().run(_chain(), {"count": "4"})
    assert result.status == "Succeeded"
    assert CALLS == [("produce", (4, "plain")), ("consume", "plain-8")]
    assert result.task("produce").outputs == {"value": "plain-8"}
    assert result.task("consume").outputs == {"length": "7", "long": "true"}
    assert result.parameters == {"count": "4"}
    assert all(t.seconds >= 0 for t in result.tasks)


def test_tasks_run_in_dependency_order_not_declaration_order() -> None:
    def build() -> None:
        c = consume(arguments={"in-value": "{{tasks.produce.outputs.parameters.value}}"})
        p = produce(arguments={"count": "1"})
        p >> c

    result = LocalExecutor().run(_workflow(build))
    assert [t.name for t in result.tasks] == ["produce", "consume"]
    assert [name for name, _ in CALLS] == ["produce", "consume"]


def test_when_false_skips_and_dependants_of_a_skipped_task_still_run() -> None:
    def build() -> None:
        p = produce(arguments={"count": "1"})
        skipped = consume(
            name="only-if-long",
            arguments={"in-value": p.get_parameter("value")},
            when=f'"{p.get_parameter("value")}" == "never"',
        )
        after = produce(name="after", arguments={"count": "2", "label": "after"})
        p >> skipped >> after

    result = LocalExecutor().run(_workflow(build))
    assert [t.status for t in result.tasks] == ["Succeeded", "Skipped", "Succeeded"]
    assert result.task("only-if-long").message == 'when "plain-2" == "never" is false'
    assert CALLS == [("produce", (1, "plain")), ("produce", (2, "after"))]


def test_a_failing_step_is_named_and_later_tasks_are_omitted() -> None:
    def build() -> None:
        p = produce(arguments={"count": "1"})
        e = explode(arguments={"reason": "disk full"})
        c = consume(arguments={"in-value": p.get_parameter("value")})
        p >> e >> c

    result = LocalExecutor().run(_workflow(build))
    assert [(t.name, t.status) for t in result.tasks] == [
        ("produce", "Succeeded"),
        ("explode", "Failed"),
        ("consume", "Omitted"),
    ]
    assert result.status == "Failed"
    assert result.task("explode").message == "RuntimeError: disk full"
    assert result.task("consume").message == "not run: 'explode' failed"
    with pytest.raises(StepFailed, match="task 'explode' failed: RuntimeError: disk full") as info:
        result.raise_for_failure()
    assert isinstance(info.value.__cause__, RuntimeError)


def test_fail_fast_also_stops_independent_branches() -> None:
    def build() -> None:
        explode()
        produce(arguments={"count": "1"})

    result = LocalExecutor().run(_workflow(build))
    assert [t.status for t in result.tasks] == ["Failed", "Omitted"]
    assert [name for name, _ in CALLS] == ["explode"]


def test_target_runs_only_the_target_and_its_dependencies() -> None:
    def build() -> None:
        p = produce(arguments={"count": "1"})
        c = consume(arguments={"in-value": p.get_parameter("value")})
        e = explode()
        p >> c >> e

    result = LocalExecutor().run(_workflow(build), target="consume")
    assert result.status == "Succeeded"
    assert [t.name for t in result.tasks] == ["produce", "consume"]
    assert result.excluded == ["explode"]
    with pytest.raises(WorkflowError, match="no task 'nope'"):
        LocalExecutor().run(_workflow(build), target="nope")


def test_env_env_from_and_optional_secrets_as_a_pod_would_see_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FAKE_MODEL", "from-the-shell")

    def build() -> None:
        read_env(arguments={"tag": "t1"})

    wt = _workflow(build, [Parameter(name="model", value="m1")])
    executor = LocalExecutor({"platform": {"FAKE_URI": "http://here", "FAKE_MODEL": "cm"}})
    result = executor.run(wt)
    # env wins over envFrom; the optional Secret does not exist here, so it is unset.
    assert result.task("read-env").outputs["seen"] == (
        "FAKE_MODEL=m1,FAKE_INPUT=t1,FAKE_TOKEN=-,FAKE_URI=http://here"
    )
    assert os.environ["FAKE_MODEL"] == "from-the-shell"  # the process's, untouched
    assert "FAKE_URI" not in os.environ
    with pytest.raises(WorkflowError, match="no local ConfigMap 'platform'"):
        LocalExecutor().run(wt)


@script(
    constructor="runner",
    image=IMAGE,
    env=[Env(name="FAKE_FIRST", value="{{inputs.parameters.tag}}")],
    env_from=[ConfigMapEnvFrom(name="platform")],
)
def first(tag: str) -> Annotated[str, Parameter(name="seen")]:
    # The step sees its variables through slipway's accessor; the process's are unchanged.
    CALLS.append(("first", "FAKE_FIRST" in os.environ or "FAKE_URI" in os.environ))
    return f"{environ().get('FAKE_FIRST')},{environ().get('FAKE_URI')}"


@script(constructor="runner", image=IMAGE)
def second() -> Annotated[str, Parameter(name="seen")]:
    return f"{environ().get('FAKE_FIRST', '-')},{environ().get('FAKE_URI', '-')}"


def test_no_steps_environment_reaches_the_next_step_or_the_process() -> None:
    def build() -> None:
        first(arguments={"tag": "t1"}) >> second()

    before = dict(os.environ)
    result = LocalExecutor({"platform": {"FAKE_URI": "http://here"}}).run(_workflow(build))
    assert result.task("first").outputs == {"seen": "t1,http://here"}
    assert result.task("second").outputs == {"seen": "-,-"}
    assert CALLS == [("first", False)]  # os.environ was not changed while the step ran
    assert dict(os.environ) == before
    assert "FAKE_FIRST" not in environ()


@script(
    constructor="runner",
    image=IMAGE,
    env=[
        Env(name="SLIPWAY_TRACKING__MODEL_NAME", value="{{workflow.parameters.model}}"),
        Env(name="SLIPWAY_HOME", value="{{inputs.parameters.home}}"),
    ],
    env_from=[ConfigMapEnvFrom(name="platform")],
)
def read_settings(home: str) -> Annotated[str, Parameter(name="seen")]:
    runtime = Runtime(load_settings())
    return f"{runtime.settings.tracking.model_name} {default_state_dir()} {runtime.tracking_uri()}"


def test_settings_state_folder_and_tracking_uri_read_the_steps_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("SLIPWAY_TRACKING__MODEL_NAME", "SLIPWAY_TRACKING__TRACKING_URI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)

    def build() -> None:
        read_settings(arguments={"home": str(tmp_path)})

    wt = _workflow(build, [Parameter(name="model", value="from-the-step")])
    platform = {"platform": {"MLFLOW_TRACKING_URI": "http://mlflow.here"}}
    result = LocalExecutor(platform).run(wt)
    assert result.task("read-settings").outputs["seen"] == (
        f"from-the-step {tmp_path.resolve()} http://mlflow.here"
    )
    assert load_settings().tracking.model_name != "from-the-step"  # only inside the step


MEETING = threading.Barrier(2, timeout=60)


@script(
    constructor="runner",
    image=IMAGE,
    env=[Env(name="FAKE_MODEL", value="{{workflow.parameters.model}}")],
)
def meet() -> Annotated[str, Parameter(name="seen")]:
    MEETING.wait()  # both runs are inside their step, their variables given
    seen = environ().get("FAKE_MODEL", "-")
    MEETING.wait()  # and neither has left it before both have looked
    return seen


def test_two_runs_in_two_threads_each_see_only_their_own_environment() -> None:
    def build() -> None:
        meet()

    workflows = [_workflow(build, [Parameter(name="model", value="-")]) for _ in range(2)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = [
            pool.submit(LocalExecutor().run, wt, {"model": model})
            for wt, model in zip(workflows, ["a", "b"], strict=True)
        ]
        seen = [run.result().task("meet").outputs.get("seen") for run in runs]
    assert seen == ["a", "b"]


def test_workflow_parameters_required_unknown_and_enum() -> None:
    def build() -> None:
        produce(arguments={"count": "{{workflow.parameters.count}}"})

    required = _workflow(build, [Parameter(name="count")])
    with pytest.raises(WorkflowError, match="parameter 'count' is required"):
        LocalExecutor().run(required)
    with pytest.raises(WorkflowError, match=r"unknown parameters \['colour'\]"):
        LocalExecutor().run(required, {"count": "1", "colour": "red"})
    enum = _workflow(build, [Parameter(name="count", value="1", enum=["1", "2"])])
    with pytest.raises(WorkflowError, match="count='3' not in"):
        LocalExecutor().run(enum, {"count": "3"})
    assert CALLS == []


def test_an_input_that_is_not_its_type_fails_the_task() -> None:
    result = LocalExecutor().run(_chain(), {"count": "three"})
    assert result.task("produce").status == "Failed"
    assert "'three' cannot be read as int" in result.task("produce").message


# ---------------------------------------------------------------- submitting a workflow


def _submitter(template_name: str) -> Workflow:
    manifest = Workflow(
        generate_name="child-",
        workflow_template_ref=m.WorkflowTemplateRef(name=template_name),
        arguments=[Parameter(name="count", value="{{inputs.parameters.n}}")],
    )
    submit = Resource(
        name="submit", action="create", manifest=manifest, inputs=[Parameter(name="n")]
    )

    def build() -> None:
        p = produce(arguments={"count": "5"})
        s = submit(name="retrain", arguments={"n": "6"}, when=f'"{p.get_parameter("value")}" != ""')
        p >> s

    return _workflow(build)


def test_resource_template_runs_the_referenced_workflow_template_here() -> None:
    child = _chain()  # named "fake"
    result = LocalExecutor(workflow_templates=[child]).run(_submitter("fake"))
    assert result.status == "Succeeded"
    nested = result.task("retrain").nested
    assert nested is not None
    assert nested.parameters == {"count": "6"}
    assert [t.status for t in nested.tasks] == ["Succeeded", "Succeeded"]
    assert CALLS[-2:] == [("produce", (6, "plain")), ("consume", "plain-12")]


def test_a_failing_submitted_workflow_fails_the_submitting_task() -> None:
    def build() -> None:
        explode(arguments={"reason": "child broke"})

    child = _workflow(build, [Parameter(name="count", value="1")])
    result = LocalExecutor(workflow_templates=[child]).run(_submitter("fake"))
    assert result.task("retrain").status == "Failed"
    assert "child broke" in result.task("retrain").message
    with pytest.raises(WorkflowError, match="'other' is not known here"):
        LocalExecutor(workflow_templates=[child]).run(_submitter("other"))


# ---------------------------------------------------------------- refused before running


def _with_task(**task_options: object) -> WorkflowTemplate:
    options = {"arguments": {"count": "1"}} | task_options

    def build() -> None:
        produce(**options)

    return _workflow(build, [Parameter(name="n", value="1")])


def _edited(edit: object) -> WorkflowTemplate:
    """The chain with its built form changed: what the executor would be handed."""
    wt = _chain()
    original = wt.build

    def build() -> object:
        built = original()
        assert callable(edit)
        edit(built)
        return built

    wt.build = build  # type: ignore[method-assign]
    return wt


def _producer_template(built: m.WorkflowTemplate) -> m.Template:
    return next(t for t in built.spec.templates or [] if t.name == "produce")


@pytest.mark.parametrize(
    ("workflow", "message"),
    [
        (lambda: _with_task(with_sequence=m.Sequence(count="2")), "withSequence"),
        (
            lambda: _with_task(with_items=[1], with_param="[1]"),
            "both withItems and withParam",
        ),
        (
            lambda: _with_task(arguments={"count": "{{item}}"}),
            r"unsupported reference \{\{item\}\}",  # an item outside a loop
        ),
        (lambda: _with_task(continue_on=m.ContinueOn(failed=True)), "continueOn"),
        (lambda: _with_task(when="{{workflow.parameters.n}} > 0"), "unsupported syntax"),
        (lambda: _with_task(when="{{=inputs.parameters.n}}"), "unsupported reference"),
        (
            lambda: _with_task(arguments={"count": "{{workflow.status}}"}),
            r"unsupported reference \{\{workflow.status\}\}",  # only in the exit handler
        ),
        (lambda: _with_task(arguments={"count": "{{workflow.parameters.m}}"}), "no parameter 'm'"),
        (lambda: _with_task(arguments={"count": "1", "extra": "x"}), "are not inputs"),
        (
            lambda: _edited(
                lambda b: setattr(
                    _producer_template(b),
                    "retry_strategy",
                    m.RetryStrategy(limit=2, expression="lastRetry.status == 'Error'"),
                )
            ),
            "only asInt",
        ),
        (
            lambda: _edited(
                lambda b: setattr(
                    _producer_template(b), "retry_strategy", m.RetryStrategy(retry_policy="Never")
                )
            ),
            "retryPolicy 'Never'",
        ),
        (
            lambda: _edited(
                lambda b: setattr(
                    _producer_template(b),
                    "synchronization",
                    m.Synchronization(semaphores=[m.SemaphoreRef()]),
                )
            ),
            "semaphores",
        ),
        (
            lambda: _edited(lambda b: setattr(b.spec, "on_exit", "produce")),
            "the exit handler .onExit. must be a DAG template",
        ),
        (
            lambda: _edited(lambda b: setattr(_producer_template(b).script, "source", "print(1)")),
            "not a Hera runner script",
        ),
        (
            lambda: _edited(lambda b: setattr(_producer_template(b).script, "command", ["bash"])),
            "unsupported command",
        ),
        (
            lambda: _edited(
                lambda b: setattr(
                    _producer_template(b),
                    "pod_spec_patch",
                    '{"containers":[{"name":"main","command":["sh"]}]}',
                )
            ),
            "podSpecPatch may only patch container resources",
        ),
        (
            lambda: _edited(
                lambda b: setattr(
                    _producer_template(b).script,
                    "env",
                    [
                        m.EnvVar(
                            name="X",
                            value_from=m.EnvVarSource(
                                config_map_key_ref=m.ConfigMapKeySelector(name="c", key="k")
                            ),
                        )
                    ],
                )
            ),
            "env X from anything but an optional Secret",
        ),
        (
            lambda: _edited(
                lambda b: setattr(
                    _producer_template(b),
                    "inputs",
                    m.Inputs(
                        parameters=[
                            m.Parameter(name="count"),
                            m.Parameter(name="label", default=""),
                        ],
                        artifacts=[m.Artifact(name="a", path="/a")],
                    ),
                )
            ),
            "artifacts",
        ),
        (
            lambda: _edited(
                lambda b: setattr(b.spec.templates[0].dag.tasks[1], "depends", "produce.Failed")
            ),
            "only task names joined by &&",
        ),
        (
            lambda: _edited(
                lambda b: setattr(b.spec.templates[0].dag.tasks[0], "depends", "consume")
            ),
            "cycle",
        ),
        (
            lambda: _edited(lambda b: setattr(b.spec.templates[0].dag.tasks[1], "depends", None)),
            "does not depend on",
        ),
    ],
)
def test_unsupported_features_are_refused_before_any_step_runs(
    workflow: object, message: str
) -> None:
    assert callable(workflow)
    with pytest.raises(WorkflowError, match=message):
        LocalExecutor().run(workflow())
    assert CALLS == []


def test_a_dependency_cycle_is_refused_naming_its_tasks() -> None:
    def build() -> None:
        a = produce(name="a", arguments={"count": "1"})
        b = produce(name="b", arguments={"count": "1"})
        c = produce(name="c", arguments={"count": "1"})
        produce(name="free", arguments={"count": "1"})
        a >> b >> c
        c >> a

    with pytest.raises(WorkflowError, match="the dependencies form a cycle: ") as info:
        LocalExecutor().run(_workflow(build))
    chain = str(info.value).split("cycle: ")[1].split(" (")[0].split(" -> ")
    # Each named task depends on the next, and the chain comes back to where it began.
    assert chain[0] == chain[-1]
    assert sorted(chain[:-1]) == ["a", "b", "c"]
    assert chain in (["a", "c", "b", "a"], ["b", "a", "c", "b"], ["c", "b", "a", "c"])
    assert CALLS == []


def test_container_templates_are_refused() -> None:
    with WorkflowTemplate(name="c", entrypoint="main") as wt, DAG(name="main"):
        Container(name="shell", image=IMAGE, command=["sh", "-c", "true"])()
    with pytest.raises(
        WorkflowError, match="template shell: container templates are not supported"
    ):
        LocalExecutor().run(wt)


def test_the_entrypoint_must_be_a_dag() -> None:
    with WorkflowTemplate(name="s", entrypoint="produce") as wt:
        produce()
    with pytest.raises(WorkflowError, match="entrypoint must be a DAG"):
        LocalExecutor().run(wt)


# ---------------------------------------------------------------- `when` and substitution


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ('"1" != "" && "false" == "false"', True),
        ('"" != "" && "false" == "false"', False),
        ('"3" != "" && "true" == "false"', False),
        ("'a' == 'a'", True),
        ("heads == heads", True),
        ("heads == tails || tails == tails", True),
        ("(a == b || c == c) && d != d", False),
        ("1 == 1.0", True),
        ("true", True),
        ("false", False),
        ("s3://b/k == s3://b/k", True),
    ],
)
def test_when_expressions(expression: str, expected: bool) -> None:
    assert evaluate_when(expression) is expected


@pytest.mark.parametrize(
    "expression", ["a > b", "a =~ b", "!a", "a ==", "(a == a", "a == a)", "word", "a == b c"]
)
def test_when_rejects_what_it_does_not_know(expression: str) -> None:
    with pytest.raises(WorkflowError):
        evaluate_when(expression)


def test_substitute_names_a_missing_value() -> None:
    assert substitute("{{ a.b }}-{{c}}", {"a.b": "1", "c": "2"}, "here") == "1-2"
    with pytest.raises(WorkflowError, match=r"here: \{\{d\}\} has no value"):
        substitute("{{d}}", {}, "here")


def test_slipways_own_workflows_use_only_the_supported_subset() -> None:
    from slipway.workflow import definitions

    train = definitions.train_and_promote()
    plan = compile_workflow(train, {})
    assert [t.name for t in plan.tasks] == [
        "validate-data", "propose-trials", "tune-trial", "pick-best", "train", "evaluate",
        "register", "canary",
    ]  # fmt: skip
    assert plan.on_exit is not None
    assert [t.name for t in plan.on_exit.nested or []] == ["on-exit"]
    cron = compile_workflow(definitions.drift_monitor(), {definitions.TRAIN_AND_PROMOTE: train})
    assert [t.name for t in cron.tasks] == ["check-drift", "retrain"]


@script(
    constructor="runner",
    image=IMAGE,
    command=["torchrun", "--standalone", "--nproc-per-node", "{{inputs.parameters.gpus}}"],
    inputs=[Parameter(name="gpus")],
)
def ranked() -> Annotated[str, Parameter(name="world")]:
    return os.environ.get("WORLD_SIZE", "1")


def test_a_torchrun_step_runs_here_as_its_single_rank() -> None:
    def build() -> None:
        ranked(arguments={"gpus": "{{workflow.parameters.gpus}}"})

    wt = _workflow(build, [Parameter(name="gpus", value="1")])
    assert LocalExecutor().run(wt).task("ranked").outputs == {"world": "1"}
    failed = LocalExecutor().run(wt, {"gpus": "2"}).task("ranked")
    assert failed.status == "Failed"
    assert "2 torchrun processes; locally only 1" in failed.message
