"""One script step, called in-process as a pod would run it: its environment (envFrom
ConfigMaps first, then ``env``; optional Secrets absent), its inputs converted to the
function's types, and its return value turned into the template's output parameters.

The environment is given to the step through ``slipway.config.step_environment``: a
context-local overlay that ``slipway.config.environ()`` reads, so ``os.environ`` is never
changed and nothing of one step is left for the next, or seen by another thread.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Protocol

from slipway.config import step_environment
from slipway.errors import WorkflowError
from slipway.workflow.executor.placeholders import substitute
from slipway.workflow.executor.plan import TaskPlan, TemplatePlan


class StepRunner(Protocol):
    """How a script step runs: in this process (InProcessSteps) or in its image
    (containers.ContainerSteps). The executor calls ``check`` before any step runs."""

    def check(self, tasks: list[TaskPlan], where: str) -> None: ...

    def run(
        self,
        template: TemplatePlan,
        inputs: Mapping[str, str],
        scope: Mapping[str, str],
        config_maps: Mapping[str, Mapping[str, str]],
        where: str,
    ) -> dict[str, str]: ...


class InProcessSteps:
    """Each step's function called here (``call_script``): the executor's default."""

    def check(self, tasks: list[TaskPlan], where: str) -> None:
        """Nothing to prepare: the functions were found when the plan was compiled."""

    def run(
        self,
        template: TemplatePlan,
        inputs: Mapping[str, str],
        scope: Mapping[str, str],
        config_maps: Mapping[str, Mapping[str, str]],
        where: str,
    ) -> dict[str, str]:
        return call_script(template, inputs, scope, config_maps, where)


def call_script(
    template: TemplatePlan,
    inputs: Mapping[str, str],
    scope: Mapping[str, str],
    config_maps: Mapping[str, Mapping[str, str]],
    where: str,
) -> dict[str, str]:
    """Call the template's function; its outputs by name, as text (JSON unless a str).

    ``scope``: the values its references resolve to; ``config_maps``: the local stand-ins
    for the ConfigMaps it takes environment from.
    """
    assert template.function is not None
    processes = substitute(template.processes, scope, where)
    if processes != "1":
        # One in-process call is one rank: exactly torchrun --nproc-per-node 1.
        raise WorkflowError(f"{where}: {processes} torchrun processes; locally only 1")
    environment = step_env(template, scope, config_maps, where)
    kwargs = {
        arg.python_name: _convert(inputs[name], arg.kind, f"{where} input {name}")
        for name, arg in template.arguments.items()
    }
    with step_environment(environment):
        returned = template.function(**kwargs)
    if not template.outputs:
        return {}
    values = returned if len(template.outputs) > 1 else (returned,)
    if not isinstance(values, tuple) or len(values) != len(template.outputs):
        raise WorkflowError(f"{where}: the function did not return {template.outputs}")
    return {name: _to_text(value) for name, value in zip(template.outputs, values, strict=True)}


def step_env(
    template: TemplatePlan,
    scope: Mapping[str, str],
    config_maps: Mapping[str, Mapping[str, str]],
    where: str,
) -> dict[str, str]:
    """The variables a pod of this template would be given (on top of the image's)."""
    env: dict[str, str] = {}
    for source in template.env_from:  # as in a pod: envFrom first, env wins
        if source.config_map_ref is not None:
            name = source.config_map_ref.name or ""
            env |= config_maps.get(name, {})  # absent only when optional
    for var in template.env:
        if var.value_from is None:  # optional Secrets are absent locally
            env[var.name] = substitute(var.value or "", scope, where)
    return env


def _convert(value: str, kind: type, where: str) -> Any:
    if kind is str:
        return value
    try:
        parsed = json.loads(value)
    except ValueError:
        parsed = None
    if kind is float and isinstance(parsed, int | float) and not isinstance(parsed, bool):
        return float(parsed)
    if type(parsed) is kind:
        return parsed
    raise WorkflowError(f"{where}: {value!r} cannot be read as {kind.__name__}")


def _to_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)
