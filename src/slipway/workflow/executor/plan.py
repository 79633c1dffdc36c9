"""The plan a run follows: a workflow compiled into checked templates and tasks in an
order that respects their dependencies. Plain data; compiler.py makes it, runner.py runs it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hera.workflows import models as m

from slipway.workflow.executor.pod import ContainerSpec


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


@dataclass(frozen=True)
class TaskPlan:
    name: str
    template: TemplatePlan
    depends: list[str]
    arguments: dict[str, str]
    when: str | None


@dataclass(frozen=True)
class Plan:
    name: str
    parameters: dict[str, m.Parameter]
    tasks: list[TaskPlan]  # in an order that respects dependencies
