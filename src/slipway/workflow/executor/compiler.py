"""From a Hera workflow to the Plan a run follows, checked before any step runs.

It builds the workflow as it would be rendered for the cluster (``workflow.build()``),
refuses what the local executor does not support (a WorkflowError naming the template
or task), orders the entrypoint DAG's tasks, checks every task's arguments, references
and ``when``, and compiles each template once, the WorkflowTemplates that resource
templates submit included.
"""

from __future__ import annotations

from collections.abc import Mapping

from hera.workflows import Script, Workflow
from hera.workflows import models as m

from slipway.errors import WorkflowError
from slipway.workflow.executor import graph
from slipway.workflow.executor.placeholders import blanked, check_references
from slipway.workflow.executor.plan import Plan, TaskPlan, TemplatePlan
from slipway.workflow.executor.refusals import IGNORED_SPEC, params, reject_unknown
from slipway.workflow.executor.templates import check_template_references, compile_template
from slipway.workflow.executor.when import evaluate_when

_TASK_FIELDS = {"name", "template", "arguments", "depends", "dependencies", "when"}


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
    reject_unknown(spec, {"entrypoint", "templates", "arguments"} | IGNORED_SPEC, name)
    parameters = {
        p.name: p
        for p in params(
            spec.arguments.parameters if spec.arguments else None,
            {"name", "value", "description", "enum"}, f"{name} argument",
        )
    }  # fmt: skip
    hera_scripts = {t.name: t for t in workflow.templates if isinstance(t, Script)}
    templates = {t.name: t for t in spec.templates or []}
    entry = templates.get(spec.entrypoint or "")
    if entry is None or entry.dag is None:
        raise WorkflowError(f"{name}: the entrypoint must be a DAG template")
    reject_unknown(entry, {"name", "dag"}, f"{name} template {entry.name}")
    reject_unknown(entry.dag, {"tasks"}, f"{name} template {entry.name} dag")
    tasks = {t.name: t for t in entry.dag.tasks}
    deps = graph.dependencies(entry.dag.tasks, name)
    compiled: dict[str, TemplatePlan] = {}
    plan: list[TaskPlan] = []
    for task_name in graph.ordered(deps, name):
        task = tasks[task_name]
        where = f"{name} task {task.name}"
        reject_unknown(task, _TASK_FIELDS, where)
        template_name = task.template or ""
        if template_name not in templates:
            raise WorkflowError(f"{where}: no template {task.template!r}")
        if template_name not in compiled:
            compiled[template_name] = compile_template(
                templates[template_name], hera_scripts.get(template_name), known, name
            )
            submits = compiled[template_name].submits
            if submits is not None and submits not in seen:  # check each workflow once
                compile_workflow(known[submits], known, seen)
        ancestors = graph.upstream(deps, deps[task.name])
        visible = {t.name: set(t.template.outputs) for t in plan if t.name in ancestors}
        plan.append(
            _task(task, compiled[template_name], deps[task.name], set(parameters), visible, where)
        )
    for template in compiled.values():
        check_template_references(templates[template.name], set(parameters), name)
    return Plan(name, parameters, plan)


def _task(
    task: m.DAGTask,
    template: TemplatePlan,
    depends: list[str],
    parameters: set[str],
    visible: Mapping[str, set[str]],
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
    for text in [*(p.value or "" for p in args.values()), task.when or ""]:
        check_references(text, where, parameters, set(), visible)
    if task.when:
        try:  # parse it now, every reference standing in as a word
            evaluate_when(blanked(task.when))
        except WorkflowError as exc:
            raise WorkflowError(f"{where}: {exc}") from None
    arguments = {k: v.value or "" for k, v in args.items()}
    return TaskPlan(task.name, template, depends, arguments, task.when)
