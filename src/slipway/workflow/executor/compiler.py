"""From a Hera workflow to the Plan a run follows, checked before any step runs.

It builds the workflow as it would be rendered for the cluster (``workflow.build()``),
refuses what the local executor does not support (a WorkflowError naming the template
or task), orders the entrypoint DAG's tasks (and the exit handler's, when ``onExit``
names a DAG), checks every task's arguments, loops, references and ``when``, and
compiles each template once, the WorkflowTemplates that resource templates submit
included.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from hera.workflows import Script, Workflow
from hera.workflows import models as m

from slipway.errors import WorkflowError
from slipway.workflow.executor import graph
from slipway.workflow.executor.placeholders import (
    EXIT_VARIABLES,
    ITEM,
    blanked,
    check_references,
)
from slipway.workflow.executor.plan import Plan, TaskPlan, TemplatePlan
from slipway.workflow.executor.refusals import IGNORED_SPEC, params, reject_unknown
from slipway.workflow.executor.templates import (
    check_template_references,
    compile_template,
    mutex_name,
)
from slipway.workflow.executor.when import evaluate_when

_TASK_FIELDS = {
    "name", "template", "arguments", "depends", "dependencies", "when", "withItems", "withParam",
}  # fmt: skip
_SPEC_FIELDS = {"entrypoint", "templates", "arguments", "onExit", "synchronization"}


def compile_workflow(
    workflow: Workflow, known: Mapping[str, Workflow], seen: frozenset[str] = frozenset()
) -> Plan:
    """Check everything the run will need, and order the tasks; raises WorkflowError.

    ``known``: the WorkflowTemplates that resource templates may submit, by name;
    ``seen``: the workflows already being checked (a workflow may submit itself).
    """
    built = workflow.build()
    spec = built.spec.workflow_spec if isinstance(built, m.CronWorkflow) else built.spec
    name = built.metadata.name or built.metadata.generate_name or "workflow"
    seen = seen | {name}
    reject_unknown(spec, _SPEC_FIELDS | IGNORED_SPEC, name)
    parameters = {
        p.name: p
        for p in params(
            spec.arguments.parameters if spec.arguments else None,
            {"name", "value", "description", "enum"}, f"{name} argument",
        )
    }  # fmt: skip
    compiler = _Compiler(
        name,
        set(parameters),
        {t.name or "": t for t in workflow.templates if isinstance(t, Script)},
        {t.name or "": t for t in spec.templates or []},
        known,
        seen,
    )
    entry, parallelism = compiler.dag(spec.entrypoint or "", "the entrypoint")
    tasks = compiler.tasks(entry, frozenset())
    on_exit = None
    if spec.on_exit:
        handler, _ = compiler.dag(spec.on_exit, "the exit handler (onExit)")
        on_exit = TaskPlan(
            spec.on_exit,
            TemplatePlan(spec.on_exit, [], []),
            [],
            {},
            None,
            nested=compiler.tasks(handler, EXIT_VARIABLES),
        )
    for template in compiler.compiled.values():
        check_template_references(compiler.templates[template.name], set(parameters), name)
    return Plan(
        name, parameters, tasks, on_exit, parallelism, mutex_name(spec.synchronization, name)
    )


class _Compiler:
    def __init__(
        self,
        workflow: str,
        parameters: set[str],
        hera_scripts: Mapping[str, Script],
        templates: Mapping[str, m.Template],
        known: Mapping[str, Workflow],
        seen: frozenset[str],
    ) -> None:
        self.workflow = workflow
        self.parameters = parameters
        self.hera_scripts = hera_scripts
        self.templates = templates
        self.known = known
        self.seen = seen
        self.compiled: dict[str, TemplatePlan] = {}

    def dag(self, template_name: str, role: str) -> tuple[m.DAGTemplate, int | None]:
        template = self.templates.get(template_name)
        if template is None or template.dag is None:
            raise WorkflowError(f"{self.workflow}: {role} must be a DAG template")
        where = f"{self.workflow} template {template.name}"
        reject_unknown(template, {"name", "dag", "parallelism"}, where)
        reject_unknown(template.dag, {"tasks"}, f"{where} dag")
        parallelism = template.parallelism
        if parallelism is not None and parallelism < 1:
            raise WorkflowError(f"{where}: parallelism {parallelism} (at least 1)")
        return template.dag, parallelism

    def tasks(self, dag: m.DAGTemplate, variables: frozenset[str]) -> list[TaskPlan]:
        by_name = {t.name: t for t in dag.tasks}
        deps = graph.dependencies(dag.tasks, self.workflow)
        plan: list[TaskPlan] = []
        for task_name in graph.ordered(deps, self.workflow):
            task = by_name[task_name]
            where = f"{self.workflow} task {task.name}"
            reject_unknown(task, _TASK_FIELDS, where)
            template = self._template(task.template or "", where)
            ancestors = graph.upstream(deps, deps[task.name])
            # A loop's outputs are Argo's aggregate (a JSON list): not resolved here.
            visible = {
                t.name: set(t.template.outputs) for t in plan if t.name in ancestors and not t.loops
            }
            plan.append(_task(task, template, deps[task.name], self.parameters, visible,
                              variables, where))  # fmt: skip
        return plan

    def _template(self, template_name: str, where: str) -> TemplatePlan:
        if template_name not in self.templates:
            raise WorkflowError(f"{where}: no template {template_name!r}")
        if template_name not in self.compiled:
            self.compiled[template_name] = compile_template(
                self.templates[template_name],
                self.hera_scripts.get(template_name),
                self.known,
                self.workflow,
            )
            submits = self.compiled[template_name].submits
            if submits is not None and submits not in self.seen:  # check each workflow once
                compile_workflow(self.known[submits], self.known, self.seen)
        return self.compiled[template_name]


def _task(
    task: m.DAGTask,
    template: TemplatePlan,
    depends: list[str],
    parameters: set[str],
    visible: Mapping[str, set[str]],
    variables: frozenset[str],
    where: str,
) -> TaskPlan:
    """One task, its arguments matched to the template's inputs, its references checked
    (``visible``: the outputs of the tasks it depends on, directly or not)."""
    if task.arguments is not None:
        reject_unknown(task.arguments, {"parameters"}, f"{where} arguments")
    args = {p.name: p for p in params(
        task.arguments.parameters if task.arguments else None, {"name", "value"}, where,
    )}  # fmt: skip
    declared = {i.name for i in template.inputs}
    if set(args) - declared:
        raise WorkflowError(f"{where}: arguments {sorted(set(args) - declared)} are not inputs")
    for i in template.inputs:
        if i.name not in args and i.default is None:
            raise WorkflowError(f"{where}: input {i.name!r} has no argument and no default")
    items = _items(task, where)
    if task.with_param is not None:
        check_references(task.with_param, where, parameters, set(), visible, variables)
    loop_variables = variables | {ITEM} if items is not None or task.with_param else variables
    for text in [*(p.value or "" for p in args.values()), task.when or ""]:
        check_references(text, where, parameters, set(), visible, loop_variables)
    if task.when:
        try:  # parse it now, every reference standing in as a word
            evaluate_when(blanked(task.when))
        except WorkflowError as exc:
            raise WorkflowError(f"{where}: {exc}") from None
    arguments = {k: v.value or "" for k, v in args.items()}
    return TaskPlan(task.name, template, depends, arguments, task.when, items, task.with_param)


def _items(task: m.DAGTask, where: str) -> list[Any] | None:
    if task.with_items is not None and task.with_param is not None:
        raise WorkflowError(f"{where}: both withItems and withParam")
    if task.with_items is None:
        return None
    # Hera's Item wraps each value (a string, number, bool or map); its JSON is Argo's.
    return [json.loads(item.model_dump_json()) for item in task.with_items]
