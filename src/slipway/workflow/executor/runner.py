"""LocalExecutor: runs a compiled Plan task by task, in this process.

It binds the workflow's arguments, checks the ConfigMaps the steps need, then walks the
tasks in order: ``when`` decides Skipped, a script task calls its function (step.py), a
resource task runs the Workflow it creates here, to its end. After a failure no new task
starts (Argo's default ``failFast``); a Skipped dependency still lets its dependants run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping

from hera.workflows import Workflow

from slipway.errors import WorkflowError
from slipway.workflow.executor import graph
from slipway.workflow.executor.compiler import compile_workflow
from slipway.workflow.executor.placeholders import substitute
from slipway.workflow.executor.plan import Plan, TaskPlan
from slipway.workflow.executor.results import RunResult, Status, TaskResult, progress_line
from slipway.workflow.executor.step import InProcessSteps, StepRunner
from slipway.workflow.executor.templates import load_manifest
from slipway.workflow.executor.when import evaluate_when

log = logging.getLogger(__name__)


class LocalExecutor:
    """Runs workflows here. ``config_maps``: the local stand-ins for the ConfigMaps the
    templates take environment from; ``workflow_templates``: what resource templates may
    submit, by name; ``echo``: progress lines (a task starts, ends); ``steps``: how a
    script step runs (default: its function, in this process)."""

    def __init__(
        self,
        config_maps: Mapping[str, Mapping[str, str]] | None = None,
        workflow_templates: Iterable[Workflow] = (),
        echo: Callable[[str], None] | None = None,
        steps: StepRunner | None = None,
    ) -> None:
        self.config_maps = {k: dict(v) for k, v in (config_maps or {}).items()}
        self.steps: StepRunner = steps or InProcessSteps()
        self.known = {w.name or "": w for w in workflow_templates}
        self.echo = echo or (lambda line: log.info("%s", line))

    def run(
        self,
        workflow: Workflow,
        arguments: Mapping[str, str] | None = None,
        target: str | None = None,
    ) -> RunResult:
        """Run the DAG (only ``target`` and what it depends on, when given), to its end or
        to the first failure. Problems with the workflow itself raise WorkflowError."""
        plan = compile_workflow(workflow, self.known)
        params = _bind(plan, dict(arguments or {}))
        self._check_config_maps(plan)
        tasks = plan.tasks if target is None else _up_to(plan, target)
        self.steps.check(tasks, plan.name)
        results: dict[str, TaskResult] = {}
        values = {f"workflow.parameters.{k}": v for k, v in params.items()}
        failed: str | None = None
        for task in tasks:
            if failed is not None:  # failFast: once a task fails, nothing new starts
                result = TaskResult(
                    task.name, task.template.name, "Omitted", message=f"not run: {failed!r} failed"
                )
            else:
                result = self._run_task(plan.name, task, values)
                if result.status == "Failed":
                    failed = task.name
                for key, value in result.outputs.items():
                    values[f"tasks.{task.name}.outputs.parameters.{key}"] = value
            results[task.name] = result
            self.echo(progress_line(result))
        excluded = [t.name for t in plan.tasks if t.name not in results]
        return RunResult(plan.name, params, list(results.values()), excluded)

    def _check_config_maps(self, plan: Plan) -> None:
        """A pod without its ConfigMap would not start either."""
        for task in plan.tasks:
            for source in task.template.env_from:
                ref = source.config_map_ref
                if ref is not None and not ref.optional and ref.name not in self.config_maps:
                    raise WorkflowError(
                        f"{plan.name} task {task.name}: no local ConfigMap {ref.name!r}"
                    )

    def _run_task(self, workflow: str, task: TaskPlan, values: dict[str, str]) -> TaskResult:
        where = f"{workflow} task {task.name}"
        start = time.monotonic()
        try:
            resolved = substitute(task.when or "", values, where)
            if task.when and not evaluate_when(resolved):
                return TaskResult(task.name, task.template.name, "Skipped",
                                  message=f"when {resolved} is false")  # fmt: skip
            given = {k: substitute(v, values, where) for k, v in task.arguments.items()}
            inputs = {i.name: given.get(i.name, i.default or "") for i in task.template.inputs}
            scope = values | {f"inputs.parameters.{k}": v for k, v in inputs.items()}
            self.echo(f"{task.name:<16} running")
            if task.template.manifest is not None:
                nested = self._submit(task.template.manifest, scope, where)
                status: Status = "Failed" if nested.status == "Failed" else "Succeeded"
                message = f"{nested.workflow}: {nested.failed.message}" if nested.failed else ""
                return TaskResult(task.name, task.template.name, status, {},
                                  time.monotonic() - start, message, nested)  # fmt: skip
            outputs = self.steps.run(task.template, inputs, scope, self.config_maps, where)
        except Exception as exc:  # the step's failure is the result, reported by name
            return TaskResult(task.name, task.template.name, "Failed", {},
                              time.monotonic() - start, f"{type(exc).__name__}: {exc}",
                              error=exc)  # fmt: skip
        return TaskResult(
            task.name, task.template.name, "Succeeded", outputs, time.monotonic() - start
        )

    def _submit(self, manifest: str, scope: dict[str, str], where: str) -> RunResult:
        """The Workflow a resource task creates, run here to its end."""
        spec = load_manifest(substitute(manifest, scope, where), where)["spec"]
        arguments = {
            p["name"]: str(p.get("value", ""))
            for p in spec.get("arguments", {}).get("parameters", [])
        }
        return self.run(self.known[spec["workflowTemplateRef"]["name"]], arguments)


def _bind(plan: Plan, given: dict[str, str]) -> dict[str, str]:
    """The workflow's parameters: given, or their value; required ones and ``enum`` checked."""
    unknown = set(given) - set(plan.parameters)
    if unknown:
        raise WorkflowError(f"{plan.name}: unknown parameters {sorted(unknown)}")
    bound: dict[str, str] = {}
    for name, param in plan.parameters.items():
        value = given.get(name, param.value)
        if value is None:
            raise WorkflowError(f"{plan.name}: parameter {name!r} is required")
        if param.enum is not None and value not in [str(e) for e in param.enum]:
            raise WorkflowError(f"{plan.name}: parameter {name}={value!r} not in {param.enum}")
        bound[name] = str(value)
    return bound


def _up_to(plan: Plan, target: str) -> list[TaskPlan]:
    """``target`` and what it depends on, in the plan's order."""
    deps = {t.name: t.depends for t in plan.tasks}
    if target not in deps:
        raise WorkflowError(f"{plan.name}: no task {target!r} to stop at")
    wanted = graph.upstream(deps, [target])
    return [t for t in plan.tasks if t.name in wanted]
