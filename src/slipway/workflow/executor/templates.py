"""One Argo template compiled into a TemplatePlan, or refused: script templates made by
Hera's runner constructor (the Python function, its typed arguments, outputs, env), and
resource templates that create a Workflow from a workflowTemplateRef."""

from __future__ import annotations

import inspect
import json
import typing
from collections.abc import Callable, Container
from typing import Any

import yaml
from hera.workflows import Parameter, Script
from hera.workflows import models as m

from slipway.errors import WorkflowError
from slipway.workflow.executor.placeholders import ALL_INPUTS, blanked, check_references
from slipway.workflow.executor.plan import ArgumentSpec, InputSpec, TemplatePlan
from slipway.workflow.executor.pod import container_spec
from slipway.workflow.executor.refusals import (
    IGNORED_CONTAINER,
    IGNORED_TEMPLATE,
    keys,
    params,
    reject_unknown,
)
from slipway.workflow.executor.retry import compile_retry

CACHE_ANNOTATION = "slipway.io/cache"  # "never": side effects that must happen each time
CACHE_CONFIG_ANNOTATION = "slipway.io/cache-config"  # the config sections a step reads
_RUNNER = ("-m", "hera.workflows.runner", "-e")
_TORCHRUN = ["torchrun", "--standalone", "--nproc-per-node"]


def compile_template(
    template: m.Template, hera: object, known: Container[str], workflow: str
) -> TemplatePlan:
    """``hera``: the Hera object of the same name (a Script has the function); ``known``:
    the WorkflowTemplates a resource template may create a Workflow from."""
    where = f"{workflow} template {template.name}"
    if template.script is not None:
        reject_unknown(
            template,
            {"name", "inputs", "outputs", "script", "podSpecPatch", "retryStrategy"}
            | {"synchronization"}
            | IGNORED_TEMPLATE,
            where,
        )
        plan = _script(template, hera if isinstance(hera, Script) else None, where)
        plan.retry = compile_retry(template.retry_strategy, where)
        plan.mutex = mutex_name(template.synchronization, where)
        annotations = (template.metadata.annotations if template.metadata else None) or {}
        plan.cache = annotations.get(CACHE_ANNOTATION)
        sections = annotations.get(CACHE_CONFIG_ANNOTATION)
        plan.cache_config = [s.strip() for s in sections.split(",")] if sections else None
        return plan
    if template.resource is not None:
        reject_unknown(template, {"name", "inputs", "resource"} | IGNORED_TEMPLATE, where)
        return _resource(template, known, where)
    kinds = sorted(keys(template) - {"name", "inputs", "outputs"} - IGNORED_TEMPLATE)
    raise WorkflowError(f"{where}: {', '.join(kinds) or 'empty'} templates are not supported")


def check_template_references(template: m.Template, parameters: set[str], workflow: str) -> None:
    """References inside a template: workflow parameters and the template's own inputs."""
    where = f"{workflow} template {template.name}"
    inputs = {p.name for p in (template.inputs.parameters if template.inputs else None) or []}
    dumped = template.model_dump(by_alias=True, exclude_none=True)
    source = (dumped.get("script") or {}).pop("source", None)
    if source is not None and source != ALL_INPUTS:
        raise WorkflowError(f"{where}: inline script source is not supported")
    check_references(json.dumps(dumped), where, parameters, inputs, {})


def mutex_name(synchronization: m.Synchronization | None, where: str) -> str | None:
    """The one mutex of a ``synchronization`` (its name may hold references)."""
    if synchronization is None:
        return None
    here = f"{where} synchronization"
    reject_unknown(synchronization, {"mutexes"}, here)
    mutexes = synchronization.mutexes or []
    if len(mutexes) != 1:
        raise WorkflowError(f"{here}: exactly one mutex is supported, not {len(mutexes)}")
    reject_unknown(mutexes[0], {"name"}, f"{here} mutex")
    if not mutexes[0].name:
        raise WorkflowError(f"{here}: the mutex has no name")
    return mutexes[0].name


def load_manifest(text: str, where: str) -> dict[str, Any]:
    """A resource manifest: Argo substitutes the text first, then parses it; so does this."""
    try:
        manifest = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise WorkflowError(f"{where}: the manifest is not YAML: {exc}") from exc
    if not isinstance(manifest, dict) or not isinstance(manifest.get("spec", {}), dict):
        raise WorkflowError(f"{where}: the manifest is not a Kubernetes object")
    return manifest


def _inputs(template: m.Template, where: str) -> list[InputSpec]:
    if template.inputs is None:
        return []
    reject_unknown(template.inputs, {"parameters"}, f"{where} inputs")
    declared = params(template.inputs.parameters, {"name", "default", "description"}, where)
    return [InputSpec(p.name, p.default) for p in declared]


def _script(template: m.Template, hera: Script | None, where: str) -> TemplatePlan:
    script = template.script
    assert script is not None
    if hera is None or not callable(hera.source):
        raise WorkflowError(f"{where}: no Python function (only Hera runner scripts run here)")
    function: Callable[..., Any] = hera.source
    reject_unknown(
        script,
        {"command", "args", "source", "env", "envFrom", "name"} | IGNORED_CONTAINER,
        f"{where} script",
    )
    entry = f"{function.__module__}:{function.__name__}"
    if tuple(script.args or ()) != (*_RUNNER, entry) or script.source != ALL_INPUTS:
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
        reject_unknown(template.outputs, {"parameters"}, f"{where} outputs")
    outputs = params(
        template.outputs.parameters if template.outputs else None,
        {"name", "description", "valueFrom"}, f"{where} output",
    )  # fmt: skip
    for output in outputs:
        if output.value_from is None or keys(output.value_from) != {"path"}:
            raise WorkflowError(f"{where} output {output.name}: only Hera's valueFrom.path")
    arguments = _arguments(function, where)
    missing = set(arguments) - {i.name for i in inputs}
    if missing:
        raise WorkflowError(f"{where}: function arguments without inputs: {sorted(missing)}")
    for env in script.env or []:
        if env.value_from is not None and not _optional_secret(env):
            raise WorkflowError(f"{where}: env {env.name} from anything but an optional Secret")
    for source in script.env_from or []:
        reject_unknown(source, {"configMapRef", "secretRef"}, f"{where} envFrom")
        if source.secret_ref is not None and not source.secret_ref.optional:
            raise WorkflowError(f"{where}: envFrom a Secret (no Secrets locally)")
    return TemplatePlan(
        template.name or "", inputs, [o.name for o in outputs], function, arguments,
        list(script.env or []), list(script.env_from or []),
        processes=command[-1] if torchrun else "1", container=container_spec(template, where),
    )  # fmt: skip


def _arguments(function: Callable[..., Any], where: str) -> dict[str, ArgumentSpec]:
    """The function's parameters by input name (an Annotated Parameter's name, else its own)."""
    hints = typing.get_type_hints(function, include_extras=True)
    arguments: dict[str, ArgumentSpec] = {}
    for python_name, param in inspect.signature(function).parameters.items():
        kind, argo_name = _value_type(
            hints.get(python_name, str), f"{where} argument {python_name}"
        )
        arguments[argo_name or python_name] = ArgumentSpec(python_name, kind)
        if param.kind not in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY):
            raise WorkflowError(f"{where}: *args and **kwargs are not supported")
    return arguments


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


def _optional_secret(env: m.EnvVar) -> bool:
    source = env.value_from
    return (
        source is not None
        and keys(source) == {"secretKeyRef"}
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


def _resource(template: m.Template, known: Container[str], where: str) -> TemplatePlan:
    resource = template.resource
    assert resource is not None
    reject_unknown(resource, {"action", "manifest"}, f"{where} resource")
    if resource.action != "create" or not resource.manifest:
        raise WorkflowError(f"{where}: only `action: create` with a manifest")
    manifest = load_manifest(blanked(resource.manifest), where)
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
    return TemplatePlan(
        template.name or "",
        _inputs(template, where),
        [],
        manifest=resource.manifest,
        submits=str(ref["name"]),
    )
