"""The plan a run follows: a workflow compiled into checked templates and tasks in an
order that respects their dependencies. Plain data; compiler.py makes it, runner.py runs it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hera.workflows import models as m

from slipway.workflow.executor.pod import ContainerSpec
from slipway.workflow.executor.retry import RetryPlan


@dataclass(frozen=True)
class InputSpec:
    name: str
    default: str | None


@dataclass(frozen=True)
class ArgumentSpec:
    python_name: str
    kind: type  # str, int, float or bool


@dataclass
class TemplatePlan:
    name: str
    inputs: list[InputSpec]
    outputs: list[str]
    function: Callable[..., Any] | None = None  # script templates
    arguments: dict[str, ArgumentSpec] = field(default_factory=dict)  # input name -> parameter
    env: list[m.EnvVar] = field(default_factory=list)
    env_from: list[m.EnvFromSource] = field(default_factory=list)
    manifest: str | None = None  # resource templates: the Workflow to create (YAML)
    submits: str | None = None  # resource templates: the WorkflowTemplate it references
    processes: str = "1"  # torchrun's --nproc-per-node, before substitution
    container: ContainerSpec | None = None  # script templates: what the container runner runs
    retry: RetryPlan | None = None  # its retryStrategy
    mutex: str | None = None  # its synchronization mutex's name, before substitution
    cache: str | None = None  # "never": never cached (slipway.io/cache)
    cache_config: list[str] | None = None  # config sections in its key (slipway.io/cache-config)


@dataclass(frozen=True)
class TaskPlan:
    name: str
    template: TemplatePlan
    depends: list[str]
    arguments: dict[str, str]
    when: str | None
    with_items: list[Any] | None = None  # a loop over these items
    with_param: str | None = None  # a loop over the JSON list this resolves to
    nested: list[TaskPlan] | None = None  # the exit handler: its DAG's tasks

    @property
    def loops(self) -> bool:
        return self.with_items is not None or self.with_param is not None


@dataclass(frozen=True)
class Plan:
    name: str
    parameters: dict[str, m.Parameter]
    tasks: list[TaskPlan]  # in an order that respects dependencies
    on_exit: TaskPlan | None = None  # the exit handler (onExit), run after the DAG either way
    parallelism: int | None = None  # the entrypoint DAG's limit on steps running at once
    mutex: str | None = None  # the workflow's synchronization mutex, before substitution
