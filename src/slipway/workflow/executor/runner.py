"""LocalExecutor: runs a compiled Plan task by task, in this process.

It binds the workflow's arguments, checks the ConfigMaps the steps need, then walks the
tasks in order: ``when`` decides Skipped, a script task calls its function (step.py) with
its ``retryStrategy`` (retry.py), a loop (``withItems``, ``withParam``) runs one step an
item, at most the DAG's ``parallelism`` at once, a resource task runs the Workflow it
creates here, to its end. After a failure no new task starts (Argo's default
``failFast``); a Skipped dependency still lets its dependants run. Then the exit handler
(``onExit``) runs, with ``{{workflow.status}}`` and ``{{workflow.failures}}``, whatever
the DAG's end.

A ``synchronization`` mutex (the workflow's or a template's) is a lock file under the
state folder, held while the workflow or step runs, so two runs on this machine (in two
processes) never hold one mutex at once. With a state folder, each run's record
(parameters, each task's status and outputs) is kept there after every task, so that
``resume`` can rerun a failed run from the step that failed, reusing the outputs of the
steps that succeeded; with a StepCache, a step whose key is in the cache is not run again.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import secrets
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from filelock import FileLock
from hera.workflows import Workflow

from slipway.errors import WorkflowError
from slipway.state_files import read_json, write_json
from slipway.workflow.executor import graph
from slipway.workflow.executor.cache import StepCache
from slipway.workflow.executor.compiler import compile_workflow
from slipway.workflow.executor.placeholders import substitute
from slipway.workflow.executor.plan import Plan, TaskPlan, TemplatePlan
from slipway.workflow.executor.results import (
    RunResult,
    Status,
    TaskResult,
    failures,
    progress_line,
)
from slipway.workflow.executor.step import InProcessSteps, StepRunner, step_env
from slipway.workflow.executor.templates import load_manifest
from slipway.workflow.executor.when import evaluate_when

log = logging.getLogger(__name__)
RUNS = "runs"  # under the state folder: one record per run
MUTEXES = "mutexes"


def exit_code(error: BaseException) -> int:
    """The exit code a step's process would have ended with for this error."""
    code = getattr(error, "exit_code", None)  # the container runner's
    if isinstance(code, int):
        return code
    if isinstance(error, SystemExit):
        return error.code if isinstance(error.code, int) else 1
    return 1


class LocalExecutor:
    """Runs workflows here. ``config_maps``: the local stand-ins for the ConfigMaps the
    templates take environment from; ``workflow_templates``: what resource templates may
    submit, by name; ``echo``: progress lines (a task starts, ends); ``steps``: how a
    script step runs (default: its function, in this process); ``state``: where run
    records and mutexes live (None: no records, mutexes in the temporary folder);
    ``cache``: the step cache (None: no caching); ``sleep``: how a retry waits."""

    def __init__(
        self,
        config_maps: Mapping[str, Mapping[str, str]] | None = None,
        workflow_templates: Iterable[Workflow] = (),
        echo: Callable[[str], None] | None = None,
        steps: StepRunner | None = None,
        state: Path | None = None,
        cache: StepCache | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config_maps = {k: dict(v) for k, v in (config_maps or {}).items()}
        self.steps: StepRunner = steps or InProcessSteps()
        self.known = {w.name or "": w for w in workflow_templates}
        self.echo = echo or (lambda line: log.info("%s", line))
        self.state = state
        self.cache = cache
        self.sleep = sleep

    # ------------------------------------------------------------------ runs

    def run(
        self,
        workflow: Workflow,
        arguments: Mapping[str, str] | None = None,
        target: str | None = None,
        resume: str | None = None,
    ) -> RunResult:
        """Run the DAG (only ``target`` and what it depends on, when given), to its end or
        to the first failure, then the exit handler. ``resume``: the name of an earlier
        run of this workflow whose succeeded steps are reused (its parameters, unless
        ``arguments`` give others). Problems with the workflow itself raise WorkflowError."""
        plan = compile_workflow(workflow, self.known)
        earlier = self.load_run(resume) if resume else None
        if earlier is not None and earlier["workflow"] != plan.name:
            raise WorkflowError(
                f"run {resume!r} is a run of {earlier['workflow']}, not {plan.name}"
            )
        given = dict(earlier["parameters"]) if earlier else {}
        params = _bind(plan, given | dict(arguments or {}))
        self._check_config_maps(plan)
        tasks = plan.tasks if target is None else _up_to(plan, target)
        self.steps.check([*tasks, *(plan.on_exit.nested or [] if plan.on_exit else [])], plan.name)
        name = f"{plan.name}-{secrets.token_hex(3)}"
        reusable = _reusable(earlier) if earlier else {}
        values = {f"workflow.parameters.{k}": v for k, v in params.items()}
        values["workflow.name"] = name
        excluded = [t.name for t in plan.tasks if t not in tasks]
        with self._mutex(plan.mutex, values, f"{plan.name}"):
            results = self._dag(plan, tasks, values, name, params, excluded, reusable)
            on_exit: list[TaskResult] = []
            if plan.on_exit is not None:
                failed = any(t.status == "Failed" for t in results)
                exit_values = values | {
                    "workflow.status": "Failed" if failed else "Succeeded",
                    "workflow.failures": failures(results),
                }
                self.echo(f"{'onExit':<16} {plan.on_exit.name} ({exit_values['workflow.status']})")
                on_exit = self._dag(plan, plan.on_exit.nested or [], exit_values, name, params,
                                    [], {})  # fmt: skip
        result = RunResult(plan.name, params, results, excluded, name, on_exit)
        self._record(result)
        return result

    def load_run(self, name: str) -> dict[str, Any]:
        """An earlier run's record, by its name; WorkflowError when there is none."""
        if self.state is None:
            raise WorkflowError("--resume needs the executor's state folder (run records)")
        path = self.state / RUNS / f"{name}.json"
        try:
            record = read_json(path, f"the record of run {name}")
        except ValueError as exc:
            raise WorkflowError(str(exc)) from exc
        if not isinstance(record, dict):
            known = sorted(p.stem for p in (self.state / RUNS).glob("*.json"))
            raise WorkflowError(f"no run {name!r} to resume (runs here: {known or 'none'})")
        return record

    def _record(self, result: RunResult) -> None:
        if self.state is not None and result.name:
            write_json(self.state / RUNS / f"{result.name}.json", result.to_record())

    def _dag(
        self,
        plan: Plan,
        tasks: list[TaskPlan],
        values: dict[str, str],
        name: str,
        params: dict[str, str],
        excluded: list[str],
        reusable: Mapping[str, dict[str, str]],
    ) -> list[TaskResult]:
        results: list[TaskResult] = []
        failed: str | None = None
        for task in tasks:
            if failed is not None:  # failFast: once a task fails, nothing new starts
                result = TaskResult(
                    task.name, task.template.name, "Omitted", message=f"not run: {failed!r} failed"
                )
            elif task.name in reusable:
                result = TaskResult(task.name, task.template.name, "Succeeded",
                                    reusable[task.name], reused="resumed")  # fmt: skip
            else:
                result = self._run_task(plan, task, values, name)
            if result.status == "Failed" and failed is None:
                failed = task.name
            for key, value in result.outputs.items():
                values[f"tasks.{task.name}.outputs.parameters.{key}"] = value
            results.append(result)
            self.echo(progress_line(result))
            if plan.on_exit is None or task not in (plan.on_exit.nested or []):
                self._record(RunResult(plan.name, params, results, excluded, name))
        return results

    def _check_config_maps(self, plan: Plan) -> None:
        """A pod without its ConfigMap would not start either."""
        exit_tasks = plan.on_exit.nested or [] if plan.on_exit else []
        for task in [*plan.tasks, *exit_tasks]:
            for source in task.template.env_from:
                ref = source.config_map_ref
                if ref is not None and not ref.optional and ref.name not in self.config_maps:
                    raise WorkflowError(
                        f"{plan.name} task {task.name}: no local ConfigMap {ref.name!r}"
                    )

    # ------------------------------------------------------------------ one task

    def _run_task(self, plan: Plan, task: TaskPlan, values: dict[str, str], run: str) -> TaskResult:
        where = f"{plan.name} task {task.name}"
        if not task.loops:
            return self._one(plan.name, task, task.name, values, run, where)
        start = time.monotonic()
        try:
            items = _loop_items(task, values, where)
        except WorkflowError as exc:
            return TaskResult(task.name, task.template.name, "Failed",
                              message=str(exc), error=exc)  # fmt: skip
        self.echo(f"{task.name:<16} {len(items)} items, {plan.parallelism or 'all'} at a time")
        children = [
            (f"{task.name}({i}:{_label(item)})", values | _item_values(item))
            for i, item in enumerate(items)
        ]

        def child(name: str, scope: dict[str, str]) -> TaskResult:
            result = self._one(plan.name, task, name, scope, run, f"{plan.name} task {name}")
            self.echo(progress_line(result))
            return result

        workers = min(plan.parallelism or len(children), len(children)) or 1
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=task.name) as pool:
            futures = [
                pool.submit(contextvars.copy_context().run, child, name, scope)
                for name, scope in children
            ]
            done = [f.result() for f in futures]
        failed = next((c for c in done if c.status == "Failed"), None)
        status: Status = "Failed" if failed else ("Succeeded" if done else "Skipped")
        message = (
            f"{failed.name}: {failed.message}" if failed
            else f"{sum(c.status == 'Succeeded' for c in done)} of {len(done)} items"
        )  # fmt: skip
        return TaskResult(task.name, task.template.name, status, {}, time.monotonic() - start,
                          message, error=failed.error if failed else None,
                          children=done)  # fmt: skip

    def _one(
        self, workflow: str, task: TaskPlan, name: str, values: dict[str, str], run: str,
        where: str,
    ) -> TaskResult:  # fmt: skip
        start = time.monotonic()
        template = task.template
        attempts = 1
        try:
            resolved = substitute(task.when or "", values, where)
            if task.when and not evaluate_when(resolved):
                return TaskResult(name, template.name, "Skipped",
                                  message=f"when {resolved} is false")  # fmt: skip
            given = {k: substitute(v, values, where) for k, v in task.arguments.items()}
            inputs = {i.name: given.get(i.name, i.default or "") for i in template.inputs}
            scope = values | {f"inputs.parameters.{k}": v for k, v in inputs.items()}
            if template.manifest is not None:
                self.echo(f"{name:<16} running")
                nested = self._submit(template.manifest, scope, where)
                status: Status = "Failed" if nested.status == "Failed" else "Succeeded"
                message = f"{nested.workflow}: {nested.failed.message}" if nested.failed else ""
                return TaskResult(name, template.name, status, {},
                                  time.monotonic() - start, message, nested)  # fmt: skip
            key = None
            if self.cache is not None:
                env = step_env(template, scope, self.config_maps, where)
                key = self.cache.key(template, inputs, env)
                entry = self.cache.get(template.name, key) if key else None
                if entry is not None:
                    return TaskResult(name, template.name, "Succeeded", entry.outputs,
                                      time.monotonic() - start,
                                      f"cached from {entry.run}", reused="cached")  # fmt: skip
            self.echo(f"{name:<16} running")
            with self._mutex(template.mutex, scope, where):
                outputs, attempts = self._attempts(template, inputs, scope, name, where)
            if key is not None and self.cache is not None:
                self.cache.put(template.name, key, name, outputs, run)
        except (Exception, SystemExit) as exc:  # the step's failure is the result, by name
            attempts = getattr(exc, "_slipway_attempts", attempts)
            return TaskResult(name, template.name, "Failed", {},
                              time.monotonic() - start, f"{type(exc).__name__}: {exc}",
                              error=exc, attempts=attempts)  # fmt: skip
        return TaskResult(name, template.name, "Succeeded", outputs, time.monotonic() - start,
                          attempts=attempts)  # fmt: skip

    def _attempts(
        self, template: TemplatePlan, inputs: dict[str, str], scope: dict[str, str],
        name: str, where: str,
    ) -> tuple[dict[str, str], int]:  # fmt: skip
        """The step, retried as its retryStrategy says; its outputs and how many attempts."""
        first = time.monotonic()
        attempt = 0
        while True:
            try:
                return self.steps.run(template, inputs, scope, self.config_maps, where), attempt + 1
            except (Exception, SystemExit) as exc:
                code = exit_code(exc)
                retry = template.retry
                if retry is None or not retry.retries(attempt, code, time.monotonic() - first):
                    with contextlib.suppress(AttributeError):  # the attempts, for the result
                        exc._slipway_attempts = attempt + 1  # type: ignore[union-attr]
                    raise
                delay = retry.delay(attempt)
                self.echo(f"{name:<16} retrying in {delay:g}s (exit code {code}: "
                          f"{type(exc).__name__}: {exc})")  # fmt: skip
                self.sleep(delay)
                attempt += 1

    @contextlib.contextmanager
    def _mutex(self, mutex: str | None, scope: Mapping[str, str], where: str) -> Iterator[None]:
        if mutex is None:
            yield
            return
        name = substitute(mutex, scope, where)
        folder = (self.state or Path(tempfile.gettempdir()) / "slipway-workflows") / MUTEXES
        folder.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(folder / f"{_safe(name)}.lock"))
        if not _try(lock):
            self.echo(f"{'':<16} waiting for mutex {name}")
            lock.acquire()
        try:
            yield
        finally:
            lock.release()

    def _submit(self, manifest: str, scope: dict[str, str], where: str) -> RunResult:
        """The Workflow a resource task creates, run here to its end."""
        spec = load_manifest(substitute(manifest, scope, where), where)["spec"]
        arguments = {
            p["name"]: str(p.get("value", ""))
            for p in spec.get("arguments", {}).get("parameters", [])
        }
        return self.run(self.known[spec["workflowTemplateRef"]["name"]], arguments)


def _try(lock: FileLock) -> bool:
    try:
        lock.acquire(timeout=0)
    except TimeoutError:
        return False
    return True


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def _reusable(record: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """The earlier run's succeeded tasks and their outputs: what a resumed run reuses."""
    return {
        str(t["name"]): {str(k): str(v) for k, v in t["outputs"].items()}
        for t in record.get("tasks", [])
        if t.get("status") == "Succeeded"
    }


def _loop_items(task: TaskPlan, values: Mapping[str, str], where: str) -> list[Any]:
    if task.with_items is not None:
        return list(task.with_items)
    text = substitute(task.with_param or "", values, where)
    try:
        items = json.loads(text)
    except ValueError:
        items = None
    if not isinstance(items, list):
        raise WorkflowError(f"{where}: withParam {text[:200]!r} is not a JSON list")
    return items


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def _item_values(item: Any) -> dict[str, str]:
    values = {"item": _text(item)}
    if isinstance(item, dict):
        values |= {f"item.{k}": _text(v) for k, v in item.items()}
    return values


def _label(item: Any) -> str:
    text = _text(item)
    return text if len(text) <= 40 else text[:37] + "..."


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
