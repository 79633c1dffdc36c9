"""slipway's local executor: runs a Hera workflow's DAG on this machine, step by step.

Argo Workflows and Hera have no local runner (hera issues #992 and #1492), so this is a
small interpreter for the subset of Argo that slipway's workflows use. It walks the *same*
Hera object that is rendered for the cluster (``workflow.build()``, what Argo would get),
and calls each script template's Python function in-process with the parameters that Argo
would pass.

Supported, with Argo's meaning:

- the entrypoint is a DAG; tasks ordered by ``depends`` (task names joined by ``&&``) or
  ``dependencies``; a dependency that is Skipped still lets its dependants run; after a
  failure no new task starts (Argo's default ``failFast``); ``target`` as a run option;
- ``when``: ``==``, ``!=``, ``&&``, ``||``, parentheses, quoted strings and bare words,
  evaluated after substitution as Argo does;
- ``{{workflow.parameters.x}}``, ``{{inputs.parameters.x}}`` and, in DAG tasks,
  ``{{tasks.t.outputs.parameters.y}}`` of a task that ``t`` depends on;
- workflow arguments (required when they have no value; ``enum`` enforced), template
  inputs with defaults, output parameters from the function's return value;
- script templates made by Hera's runner constructor, under ``python`` or
  ``torchrun --standalone --nproc-per-node 1`` (one rank, in-process); the template's
  ``env`` is set while the function runs, ``envFrom`` ConfigMaps come from the caller
  (the local stand-in for the cluster's), optional Secrets are absent as on a cluster
  that lacks them;
- resource templates that create a Workflow from a ``workflowTemplateRef`` the executor
  was given: that workflow runs here, to its end, as part of the task.

Ignored by design, because they say where and how a pod runs rather than what a step
does: image, pull policy, resources, security contexts, volumes and mounts, working
directory, node selectors and tolerations, a podSpecPatch that only patches container
resources, service account, pod GC, TTL and deadlines, labels and annotations.

Everything else (loops, retries, artifacts, exit handlers, inline scripts, containers,
expressions ``{{=...}}``, other variables) is rejected with a WorkflowError naming the
template or task, before any step runs.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
import os
import re
import time
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml
from hera.workflows import Parameter, Script, Workflow
from hera.workflows import models as m

from slipway.errors import StepFailed, WorkflowError

log = logging.getLogger(__name__)

Status = Literal["Succeeded", "Failed", "Skipped", "Omitted"]


@dataclass(frozen=True)
class TaskResult:
    name: str
    template: str
    status: Status
    outputs: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    message: str = ""  # why it was skipped, omitted or failed
    nested: RunResult | None = None  # the workflow a resource task submitted
    error: BaseException | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class RunResult:
    workflow: str
    parameters: dict[str, str]
    tasks: list[TaskResult]
    excluded: list[str] = field(default_factory=list)  # outside the run's target

    @property
    def status(self) -> Literal["Succeeded", "Failed"]:
        return "Failed" if self.failed is not None else "Succeeded"

    @property
    def failed(self) -> TaskResult | None:
        return next((t for t in self.tasks if t.status == "Failed"), None)

    def task(self, name: str) -> TaskResult:
        for result in self.tasks:
            if result.name == name:
                return result
        raise KeyError(f"{self.workflow} has no task {name!r} in this run")

    def raise_for_failure(self) -> None:
        failed = self.failed
        if failed is not None:
            raise StepFailed(
                f"{self.workflow}: task {failed.name!r} failed: {failed.message}"
            ) from failed.error


# ---------------------------------------------------------------- references and `when`

_REFERENCE = re.compile(r"\{\{\s*(.*?)\s*\}\}")
_WORKFLOW_PARAM = re.compile(r"workflow\.parameters\.([\w-]+)")
_INPUT_PARAM = re.compile(r"inputs\.parameters\.([\w-]+)")
_TASK_OUTPUT = re.compile(r"tasks\.([\w-]+)\.outputs\.parameters\.([\w-]+)")
_ALL_INPUTS = "inputs.parameters"  # the runner's source: every input, as JSON


def _check_references(
    text: str,
    where: str,
    workflow_params: set[str],
    inputs: set[str],
    tasks: Mapping[str, set[str]],
) -> None:
    """Every ``{{...}}`` in ``text`` must be a reference this executor resolves."""
    for ref in _REFERENCE.findall(text):
        if match := _WORKFLOW_PARAM.fullmatch(ref):
            known, name = workflow_params, match[1]
        elif match := _INPUT_PARAM.fullmatch(ref):
            known, name = inputs, match[1]
        elif match := _TASK_OUTPUT.fullmatch(ref):
            known, name = tasks.get(match[1], set()), match[2]
            if match[1] not in tasks:
                raise WorkflowError(
                    f"{where}: {{{{{ref}}}}} names task {match[1]!r}, which it does not depend on"
                )
        else:
            raise WorkflowError(f"{where}: unsupported reference {{{{{ref}}}}}")
        if name not in known:
            raise WorkflowError(f"{where}: {{{{{ref}}}}}: no parameter {name!r} there")


def substitute(text: str, values: Mapping[str, str], where: str) -> str:
    """``text`` with each ``{{name}}`` replaced from ``values`` (keys without braces)."""

    def one(match: re.Match[str]) -> str:
        try:
            return values[match[1]]
        except KeyError:
            raise WorkflowError(f"{where}: {{{{{match[1]}}}}} has no value here") from None

    return _REFERENCE.sub(one, text)


_TOKEN = re.compile(r"""\s*(?:(&&|\|\||==|!=|\(|\))|"([^"]*)"|'([^']*)'|([\w.:/@+-]+))""")


def evaluate_when(expression: str) -> bool:
    """Argo's ``when`` after substitution, for the operators slipway uses.

    Bare words are strings (as Argo treats them); two numbers compare as numbers.
    """
    tokens: list[tuple[str, str]] = []  # (kind, text): kind "op" or "value"
    position, text = 0, expression.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise WorkflowError(f"when {expression!r}: unsupported syntax at {text[position:]!r}")
        op, double, single, word = match.groups()
        tokens.append(
            ("op", op)
            if op
            else ("value", next(v for v in (double, single, word) if v is not None))
        )
        position = match.end()
    parser = _WhenParser(tokens, expression)
    result = parser.disjunction()
    if parser.index != len(tokens):
        raise WorkflowError(f"when {expression!r}: unexpected {tokens[parser.index][1]!r}")
    return result


@dataclass
class _WhenParser:
    tokens: list[tuple[str, str]]
    expression: str
    index: int = 0

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def _take(self) -> tuple[str, str]:
        token = self._peek()
        if token is None:
            raise WorkflowError(f"when {self.expression!r}: ends too early")
        self.index += 1
        return token

    def disjunction(self) -> bool:
        value = self.conjunction()
        while self._peek() == ("op", "||"):
            self._take()
            value = self.conjunction() or value
        return value

    def conjunction(self) -> bool:
        value = self.comparison()
        while self._peek() == ("op", "&&"):
            self._take()
            value = self.comparison() and value
        return value

    def comparison(self) -> bool:
        if self._peek() == ("op", "("):
            self._take()
            value = self.disjunction()
            if self._take() != ("op", ")"):
                raise WorkflowError(f"when {self.expression!r}: missing ')'")
            return value
        left = self._operand()
        token = self._peek()
        if token is None or token[1] not in ("==", "!="):
            if left in ("true", "false"):
                return left == "true"
            raise WorkflowError(f"when {self.expression!r}: {left!r} is not a condition")
        self._take()
        equal = _same(left, self._operand())
        return equal if token[1] == "==" else not equal

    def _operand(self) -> str:
        kind, text = self._take()
        if kind != "value":
            raise WorkflowError(f"when {self.expression!r}: expected a value, got {text!r}")
        return text


def _same(left: str, right: str) -> bool:
    try:
        return float(left) == float(right)
    except ValueError:
        return left == right


# ---------------------------------------------------------------- the compiled workflow

_IGNORED_SPEC = {
    "serviceAccountName", "securityContext", "podGC", "ttlStrategy", "activeDeadlineSeconds",
    "podMetadata", "workflowMetadata", "automountServiceAccountToken", "nodeSelector",
    "tolerations", "priority", "podPriorityClassName",
}  # fmt: skip
_IGNORED_TEMPLATE = {
    "volumes", "nodeSelector", "tolerations", "affinity", "metadata", "securityContext",
    "serviceAccountName", "automountServiceAccountToken", "priorityClassName",
    "activeDeadlineSeconds",
}  # fmt: skip
_IGNORED_CONTAINER = {
    "image", "imagePullPolicy", "resources", "securityContext", "volumeMounts", "workingDir",
}  # fmt: skip
_RUNNER = ("-m", "hera.workflows.runner", "-e")
_TORCHRUN = ["torchrun", "--standalone", "--nproc-per-node"]


def _keys(model: Any) -> set[str]:
    dumped: dict[str, Any] = model.model_dump(by_alias=True, exclude_none=True)
    return set(dumped)


def _reject_unknown(model: Any, allowed: set[str], where: str) -> None:
    extra = sorted(_keys(model) - allowed)
    if extra:
        raise WorkflowError(f"{where}: not supported by the local executor: {', '.join(extra)}")


@dataclass(frozen=True)
class _Input:
    name: str
    default: str | None


@dataclass(frozen=True)
class _Argument:
    python_name: str
    kind: type  # str, int, float or bool


@dataclass
class _Template:
    name: str
    inputs: list[_Input]
    outputs: list[str]
    function: Callable[..., Any] | None = None  # script templates
    arguments: dict[str, _Argument] = field(default_factory=dict)  # input name -> parameter
    env: list[m.EnvVar] = field(default_factory=list)
    env_from: list[m.EnvFromSource] = field(default_factory=list)
    manifest: str | None = None  # resource templates: the Workflow to create (YAML)
    processes: str = "1"  # torchrun's --nproc-per-node, before substitution


@dataclass(frozen=True)
class _Task:
    name: str
    template: _Template
    depends: list[str]
    arguments: dict[str, str]
    when: str | None


@dataclass(frozen=True)
class _Plan:
    name: str
    parameters: dict[str, m.Parameter]
    tasks: list[_Task]  # in an order that respects dependencies


def _params(
    params: Iterable[m.Parameter] | None, allowed: set[str], where: str
) -> list[m.Parameter]:
    out = list(params or [])
    for param in out:
        _reject_unknown(param, allowed, f"{where} parameter {param.name}")
    return out


def _inputs(template: m.Template, where: str) -> list[_Input]:
    if template.inputs is None:
        return []
    _reject_unknown(template.inputs, {"parameters"}, f"{where} inputs")
    params = _params(template.inputs.parameters, {"name", "default", "description"}, where)
    return [_Input(p.name, p.default) for p in params]


def _value_type(annotation: Any, where: str) -> tuple[type, str | None]:
    """(str|int|float|bool, the Argo name of an Annotated Parameter)."""
    name = None
    if typing.get_origin(annotation) is typing.Annotated:
        annotation, *extras = typing.get_args(annotation)
        for extra in extras:
            if isinstance(extra, Parameter):
                if extra.output:
                    raise WorkflowError(f"{where}: output parameters as arguments")
                name = extra.name
            else:
                raise WorkflowError(f"{where}: unsupported annotation {extra!r}")
    if annotation not in (str, int, float, bool):
        raise WorkflowError(f"{where}: parameter type {annotation!r} (use str, int, float, bool)")
    return annotation, name


def _compile_script(template: m.Template, hera: Script | None, where: str) -> _Template:
    script = template.script
    assert script is not None
    if hera is None or not callable(hera.source):
        raise WorkflowError(f"{where}: no Python function (only Hera runner scripts run here)")
    function: Callable[..., Any] = hera.source
    _reject_unknown(
        script,
        {"command", "args", "source", "env", "envFrom", "name"} | _IGNORED_CONTAINER,
        f"{where} script",
    )
    entry = f"{function.__module__}:{function.__name__}"
    if tuple(script.args or ()) != (*_RUNNER, entry) or script.source != "{{inputs.parameters}}":
        raise WorkflowError(f"{where}: not a Hera runner script for {entry}")
    command = list(script.command or [])
    torchrun = command[: len(_TORCHRUN)] == _TORCHRUN and len(command) == len(_TORCHRUN) + 1
    if command != ["python"] and not torchrun:
        raise WorkflowError(
            f"{where}: unsupported command {command} "
            "(python, or torchrun --standalone --nproc-per-node N)"
        )
    if template.pod_spec_patch is not None:
        _check_resource_patch(template.pod_spec_patch, where)
    inputs = _inputs(template, where)
    if template.outputs is not None:
        _reject_unknown(template.outputs, {"parameters"}, f"{where} outputs")
    outputs = _params(
        template.outputs.parameters if template.outputs else None,
        {"name", "description", "valueFrom"}, f"{where} output",
    )  # fmt: skip
    for output in outputs:
        if output.value_from is None or _keys(output.value_from) != {"path"}:
            raise WorkflowError(f"{where} output {output.name}: only Hera's valueFrom.path")
    hints = typing.get_type_hints(function, include_extras=True)
    arguments: dict[str, _Argument] = {}
    for python_name, param in inspect.signature(function).parameters.items():
        kind, argo_name = _value_type(
            hints.get(python_name, str), f"{where} argument {python_name}"
        )
        arguments[argo_name or python_name] = _Argument(python_name, kind)
        if param.kind not in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY):
            raise WorkflowError(f"{where}: *args and **kwargs are not supported")
    missing = set(arguments) - {i.name for i in inputs}
    if missing:
        raise WorkflowError(f"{where}: function arguments without inputs: {sorted(missing)}")
    for env in script.env or []:
        if env.value_from is not None and not _optional_secret(env):
            raise WorkflowError(f"{where}: env {env.name} from anything but an optional Secret")
    for source in script.env_from or []:
        _reject_unknown(source, {"configMapRef", "secretRef"}, f"{where} envFrom")
        if source.secret_ref is not None and not source.secret_ref.optional:
            raise WorkflowError(f"{where}: envFrom a Secret (no Secrets locally)")
    return _Template(
        template.name or "", inputs, [o.name for o in outputs], function, arguments,
        list(script.env or []), list(script.env_from or []),
        processes=command[-1] if torchrun else "1",
    )  # fmt: skip


def _optional_secret(env: m.EnvVar) -> bool:
    source = env.value_from
    return (
        source is not None
        and _keys(source) == {"secretKeyRef"}
        and source.secret_key_ref is not None
        and source.secret_key_ref.optional is True
    )


def _check_resource_patch(patch: str, where: str) -> None:
    """A podSpecPatch may set container resources (placement) and nothing else."""
    try:
        parsed = json.loads(patch)
    except ValueError as exc:
        raise WorkflowError(f"{where}: podSpecPatch is not JSON: {exc}") from exc
    containers = parsed.get("containers") if isinstance(parsed, dict) else None
    if (
        set(parsed) != {"containers"}
        or not isinstance(containers, list)
        or any(not isinstance(c, dict) or set(c) - {"name", "resources"} for c in containers)
    ):
        raise WorkflowError(f"{where}: podSpecPatch may only patch container resources")


def _load_manifest(text: str, where: str) -> dict[str, Any]:
    """A resource manifest: Argo substitutes the text first, then parses it; so does this."""
    try:
        manifest = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise WorkflowError(f"{where}: the manifest is not YAML: {exc}") from exc
    if not isinstance(manifest, dict) or not isinstance(manifest.get("spec", {}), dict):
        raise WorkflowError(f"{where}: the manifest is not a Kubernetes object")
    return manifest


def _compile_resource(
    template: m.Template, known: Mapping[str, Workflow], seen: frozenset[str], where: str
) -> _Template:
    resource = template.resource
    assert resource is not None
    _reject_unknown(resource, {"action", "manifest"}, f"{where} resource")
    if resource.action != "create" or not resource.manifest:
        raise WorkflowError(f"{where}: only `action: create` with a manifest")
    manifest = _load_manifest(_REFERENCE.sub("x", resource.manifest), where)
    spec = manifest.get("spec", {})
    ref = spec.get("workflowTemplateRef", {})
    if (
        manifest.get("kind") != "Workflow"
        or set(spec) - {"workflowTemplateRef", "arguments"}
        or set(ref) != {"name"}
        or set(spec.get("arguments", {})) - {"parameters"}
    ):
        raise WorkflowError(f"{where}: only a Workflow from a workflowTemplateRef can be created")
    if ref["name"] not in known:
        raise WorkflowError(f"{where}: WorkflowTemplate {ref['name']!r} is not known here")
    if ref["name"] not in seen:  # a workflow may submit itself: check each one once
        compile_workflow(known[ref["name"]], known, seen)
    return _Template(template.name or "", _inputs(template, where), [], manifest=resource.manifest)


def _ordered(tasks: list[m.DAGTask], where: str) -> list[tuple[m.DAGTask, list[str]]]:
    """Tasks with their dependencies, dependencies first (declared order otherwise)."""
    names = {t.name for t in tasks}
    deps: dict[str, list[str]] = {}
    for task in tasks:
        if task.depends is not None and task.dependencies is not None:
            raise WorkflowError(f"{where} task {task.name}: both depends and dependencies")
        listed = task.dependencies or []
        if task.depends is not None:
            listed = [d.strip() for d in task.depends.split("&&")]
            if any(not re.fullmatch(r"[\w-]+", d) for d in listed):
                raise WorkflowError(
                    f"{where} task {task.name}: depends {task.depends!r} "
                    "(only task names joined by &&)"
                )
        unknown = set(listed) - names
        if unknown:
            raise WorkflowError(f"{where} task {task.name}: unknown dependencies {sorted(unknown)}")
        deps[task.name] = listed
    ordered: list[tuple[m.DAGTask, list[str]]] = []
    done: set[str] = set()
    while len(ordered) < len(tasks):
        ready = [t for t in tasks if t.name not in done and set(deps[t.name]) <= done]
        if not ready:
            raise WorkflowError(f"{where}: the dependencies form a cycle")
        ordered.append((ready[0], deps[ready[0].name]))
        done.add(ready[0].name)
    return ordered


def compile_workflow(
    workflow: Workflow, known: Mapping[str, Workflow], seen: frozenset[str] = frozenset()
) -> _Plan:
    """Check everything the run will need, and order the tasks; raises WorkflowError.

    ``known``: the WorkflowTemplates that resource templates may submit, by name.
    """
    built = workflow.build()
    spec = built.spec.workflow_spec if isinstance(built, m.CronWorkflow) else built.spec
    name = built.metadata.name or built.metadata.generate_name or "workflow"
    seen = seen | {name}
    _reject_unknown(spec, {"entrypoint", "templates", "arguments"} | _IGNORED_SPEC, name)
    parameters = {
        p.name: p
        for p in _params(
            spec.arguments.parameters if spec.arguments else None,
            {"name", "value", "description", "enum"}, f"{name} argument",
        )
    }  # fmt: skip
    hera_scripts = {t.name: t for t in workflow.templates if isinstance(t, Script)}
    templates = {t.name: t for t in spec.templates or []}
    entry = templates.get(spec.entrypoint or "")
    if entry is None or entry.dag is None:
        raise WorkflowError(f"{name}: the entrypoint must be a DAG template")
    _reject_unknown(entry, {"name", "dag"}, f"{name} template {entry.name}")
    _reject_unknown(entry.dag, {"tasks"}, f"{name} template {entry.name} dag")
    compiled: dict[str, _Template] = {}
    plan: list[_Task] = []
    ancestors: dict[str, set[str]] = {}
    for task, deps in _ordered(list(entry.dag.tasks), name):
        where = f"{name} task {task.name}"
        _reject_unknown(
            task, {"name", "template", "arguments", "depends", "dependencies", "when"}, where
        )
        template_name = task.template or ""
        if template_name not in templates:
            raise WorkflowError(f"{where}: no template {task.template!r}")
        if template_name not in compiled:
            compiled[template_name] = _compile_template(
                templates[template_name], hera_scripts.get(template_name), known, seen, name
            )
        template = compiled[template_name]
        ancestors[task.name] = set(deps).union(*(ancestors[d] for d in deps))
        visible = {t.name: set(t.template.outputs) for t in plan if t.name in ancestors[task.name]}
        if task.arguments is not None:
            _reject_unknown(task.arguments, {"parameters"}, f"{where} arguments")
        args = {p.name: p for p in _params(
            task.arguments.parameters if task.arguments else None, {"name", "value"}, where,
        )}  # fmt: skip
        declared = {i.name for i in template.inputs}
        if set(args) - declared:
            raise WorkflowError(f"{where}: arguments {sorted(set(args) - declared)} are not inputs")
        for i in template.inputs:
            if i.name not in args and i.default is None:
                raise WorkflowError(f"{where}: input {i.name!r} has no argument and no default")
        for text in [*(p.value or "" for p in args.values()), task.when or ""]:
            _check_references(text, where, set(parameters), set(), visible)
        if task.when:
            _check_when_syntax(task.when, where)
        plan.append(_Task(
            task.name, template, deps, {k: v.value or "" for k, v in args.items()}, task.when,
        ))  # fmt: skip
    for template in compiled.values():
        _check_template_references(templates[template.name], set(parameters), name)
    return _Plan(name, parameters, plan)


def _check_when_syntax(when: str, where: str) -> None:
    """Parse ``when`` before the run, every reference standing in as a word."""
    try:
        evaluate_when(_REFERENCE.sub("x", when))
    except WorkflowError as exc:
        raise WorkflowError(f"{where}: {exc}") from None


def _compile_template(
    template: m.Template,
    hera: Any,
    known: Mapping[str, Workflow],
    seen: frozenset[str],
    workflow: str,
) -> _Template:
    where = f"{workflow} template {template.name}"
    if template.script is not None:
        _reject_unknown(
            template,
            {"name", "inputs", "outputs", "script", "podSpecPatch"} | _IGNORED_TEMPLATE,
            where,
        )
        return _compile_script(template, hera if isinstance(hera, Script) else None, where)
    if template.resource is not None:
        _reject_unknown(template, {"name", "inputs", "resource"} | _IGNORED_TEMPLATE, where)
        return _compile_resource(template, known, seen, where)
    kinds = sorted(_keys(template) - {"name", "inputs", "outputs"} - _IGNORED_TEMPLATE)
    raise WorkflowError(f"{where}: {', '.join(kinds) or 'empty'} templates are not supported")


def _check_template_references(template: m.Template, parameters: set[str], workflow: str) -> None:
    """References inside a template: workflow parameters and the template's own inputs."""
    where = f"{workflow} template {template.name}"
    inputs = {p.name for p in (template.inputs.parameters if template.inputs else None) or []}
    dumped = template.model_dump(by_alias=True, exclude_none=True)
    source = (dumped.get("script") or {}).pop("source", None)
    if source is not None and source != "{{" + _ALL_INPUTS + "}}":
        raise WorkflowError(f"{where}: inline script source is not supported")
    _check_references(json.dumps(dumped), where, parameters, inputs, {})


# ---------------------------------------------------------------- running


@contextlib.contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set variables for the length of a step, then put the process's environment back."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


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


class LocalExecutor:
    """Runs workflows here. ``config_maps``: the local stand-ins for the ConfigMaps the
    templates take environment from; ``workflow_templates``: what resource templates may
    submit, by name; ``echo``: progress lines (a task starts, ends)."""

    def __init__(
        self,
        config_maps: Mapping[str, Mapping[str, str]] | None = None,
        workflow_templates: Iterable[Workflow] = (),
        echo: Callable[[str], None] | None = None,
    ) -> None:
        self.config_maps = {k: dict(v) for k, v in (config_maps or {}).items()}
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
        params = self._bind(plan, dict(arguments or {}))
        for task in plan.tasks:  # a pod without its ConfigMap would not start either
            for source in task.template.env_from:
                ref = source.config_map_ref
                if ref is not None and not ref.optional and ref.name not in self.config_maps:
                    raise WorkflowError(
                        f"{plan.name} task {task.name}: no local ConfigMap {ref.name!r}"
                    )
        tasks = plan.tasks
        if target is not None:
            tasks = self._up_to(plan, target)
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
            self.echo(_line(result))
        excluded = [t.name for t in plan.tasks if t.name not in results]
        return RunResult(plan.name, params, list(results.values()), excluded)

    def _bind(self, plan: _Plan, given: dict[str, str]) -> dict[str, str]:
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

    @staticmethod
    def _up_to(plan: _Plan, target: str) -> list[_Task]:
        by_name = {t.name: t for t in plan.tasks}
        if target not in by_name:
            raise WorkflowError(f"{plan.name}: no task {target!r} to stop at")
        wanted, todo = set(), [target]
        while todo:
            name = todo.pop()
            if name not in wanted:
                wanted.add(name)
                todo += by_name[name].depends
        return [t for t in plan.tasks if t.name in wanted]

    def _run_task(self, workflow: str, task: _Task, values: dict[str, str]) -> TaskResult:
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
            outputs = self._call(task.template, inputs, scope, where)
        except Exception as exc:  # the step's failure is the result, reported by name
            return TaskResult(task.name, task.template.name, "Failed", {},
                              time.monotonic() - start, f"{type(exc).__name__}: {exc}",
                              error=exc)  # fmt: skip
        return TaskResult(
            task.name, task.template.name, "Succeeded", outputs, time.monotonic() - start
        )

    def _call(
        self, template: _Template, inputs: dict[str, str], scope: dict[str, str], where: str
    ) -> dict[str, str]:
        assert template.function is not None
        processes = substitute(template.processes, scope, where)
        if processes != "1":
            # One in-process call is one rank: exactly torchrun --nproc-per-node 1.
            raise WorkflowError(f"{where}: {processes} torchrun processes; locally only 1")
        env: dict[str, str] = {}
        for source in template.env_from:  # as in a pod: envFrom first, env wins
            if source.config_map_ref is not None:
                name = source.config_map_ref.name or ""
                env |= self.config_maps.get(name, {})  # absent only when optional
        for var in template.env:
            if var.value_from is None:  # optional Secrets are absent locally
                env[var.name] = substitute(var.value or "", scope, where)
        kwargs = {
            arg.python_name: _convert(inputs[name], arg.kind, f"{where} input {name}")
            for name, arg in template.arguments.items()
        }
        with _environment(env):
            returned = template.function(**kwargs)
        if not template.outputs:
            return {}
        values = returned if len(template.outputs) > 1 else (returned,)
        if not isinstance(values, tuple) or len(values) != len(template.outputs):
            raise WorkflowError(f"{where}: the function did not return {template.outputs}")
        return {name: _to_text(value) for name, value in zip(template.outputs, values, strict=True)}

    def _submit(self, manifest: str, scope: dict[str, str], where: str) -> RunResult:
        spec = _load_manifest(substitute(manifest, scope, where), where)["spec"]
        arguments = {
            p["name"]: str(p.get("value", ""))
            for p in spec.get("arguments", {}).get("parameters", [])
        }
        return self.run(self.known[spec["workflowTemplateRef"]["name"]], arguments)


def _line(result: TaskResult) -> str:
    outputs = " ".join(f"{k}={v}" for k, v in result.outputs.items())
    detail = result.message or outputs
    return f"{result.name:<16} {result.status:<10} {result.seconds:6.1f}s  {detail}".rstrip()
