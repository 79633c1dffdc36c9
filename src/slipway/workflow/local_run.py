"""slipway's workflows on this machine: the executor wired to the runtime.

The cluster gives each step pod the ``slipway-platform`` ConfigMap (the MLflow tracking
URI); here the runtime's platform config (the local stack's addresses) stands in for it,
and for the state folder the rollout uses. Workflow parameters that name cluster services
get their local values.

Steps run in-process by default; ``container_steps`` makes the container runner instead
(each step in its image with podman), for which the data files' folders are mounted
read-only at the same paths; ``s3://`` data is read through the stack's S3, whose endpoint
and local credentials each container gets as a pod gets IRSA's.

Both runners share the plan, the step cache (``<state>/workflows/cache``, keyed as
executor.cache says, digested by fingerprint.SettingsFingerprint) and the run records
that ``--resume`` reads (``<state>/workflows/runs``). A step taken from the cache is
tagged on the pipeline's MLflow run (``slipway.workflow.cached_steps``).
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from mlflow.tracking import MlflowClient

from slipway.config import Settings
from slipway.data.storage import DataLocation, DataUri
from slipway.data.validation import DriftCheck, Finding, ValidationReport
from slipway.errors import WorkflowError
from slipway.pipeline.steps import PipelineResult, decision_of
from slipway.registry import aliases
from slipway.runtime import Runtime
from slipway.workflow import definitions
from slipway.workflow.executor import (
    ContainerSteps,
    ImageMap,
    LocalExecutor,
    Mount,
    RunResult,
    StepRunner,
)
from slipway.workflow.executor.cache import StepCache
from slipway.workflow.fingerprint import SettingsFingerprint
from slipway.workflow.templates.common import PLATFORM_CONFIGMAP

# The repository's podman configuration (images/), used when podman runs from a checkout.
CONTAINERS_CONF = Path("images/containers.conf")
# What the container runner may run to: the canary's local backend keeps its state in this
# machine's state folder, which a step's user (10001) in its container cannot write.
CONTAINER_TARGETS = (
    "validate-data",
    "propose-trials",
    "tune-trial",
    "pick-best",
    "train",
    "evaluate",
    "register",
)


CACHED_TAG = "slipway.workflow.cached_steps"


@dataclass(frozen=True)
class CacheOptions:
    """``enabled``: False for ``--no-cache``; ``ignore``: input names left out of keys."""

    enabled: bool = True
    ignore: tuple[str, ...] = ()


def state_folder(runtime: Runtime) -> Path:
    """Where the local runs keep their records, cache and mutexes."""
    return runtime.state_dir / "workflows"


def step_cache(runtime: Runtime, options: CacheOptions = CacheOptions()) -> StepCache:
    return StepCache(
        state_folder(runtime) / "cache",
        options.ignore,
        options.enabled,
        SettingsFingerprint(runtime.storage_environment()),
    )


def executor(
    runtime: Runtime,
    echo: Callable[[str], None] | None = None,
    steps: StepRunner | None = None,
    cache: CacheOptions | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> LocalExecutor:
    """``cache``: None for no step cache (what a retraining from an alert and the demo
    take: they mean to run); run records are kept either way."""
    return LocalExecutor(
        {PLATFORM_CONFIGMAP: runtime.platform_config()},
        [definitions.train_and_promote()],
        echo,
        steps,
        state=state_folder(runtime),
        cache=step_cache(runtime, cache) if cache is not None else None,
        sleep=sleep,
    )


def container_steps(
    image_map: Sequence[str],
    files: Iterable[DataUri | None],
    echo: Callable[[str], None] | None = None,
    containers_conf: Path | None = None,
    pod_env: dict[str, str] | None = None,
) -> ContainerSteps:
    """The container runner for a run that reads ``files`` (paths or ``s3://`` URIs): the
    folders of the paths are mounted read-only at the same paths; ``image_map``:
    TEMPLATE_IMAGE=LOCAL_IMAGE entries; ``pod_env``: what every step's pod is given by
    the platform (``Runtime.storage_environment()`` here)."""
    images = ImageMap.parse(image_map)
    located = [DataLocation.parse(f) for f in files if f is not None]
    folders = sorted({loc.path.resolve().parent for loc in located if loc.path is not None})
    conf = containers_conf or (CONTAINERS_CONF if CONTAINERS_CONF.is_file() else None)
    mounts = [Mount(folder) for folder in folders]
    return ContainerSteps(images, mounts, conf, echo, pod_env=pod_env)


def _uri(data: DataUri) -> str:
    """A data argument as the steps get it: an ``s3://`` URI as is, a path made absolute."""
    return DataLocation.parse(data).source_uri


def _common(runtime: Runtime) -> dict[str, str]:
    # The model name comes from the same settings the caller reads results with.
    return {
        "config": str(runtime.config_path or ""),
        "model-name": runtime.settings.tracking.model_name,
    }


def run_training(
    runtime: Runtime,
    data: DataUri | None,
    reference: DataUri | None = None,
    target: str | None = None,
    echo: Callable[[str], None] | None = None,
    steps: StepRunner | None = None,
    tuning_trials: int | None = None,
    cache: CacheOptions | None = None,
    resume: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> RunResult:
    """slipway-train-and-promote here: one training process, the canary on the local backend.

    ``cache``: the step cache's options (None: none; ``slipway workflow run-local`` uses
    it unless ``--no-cache``); ``resume``: an earlier run's name; its parameters stand
    unless given again (``data`` None keeps its data), and its succeeded steps are reused."""
    arguments = _common(runtime) | {
        "gpus": "1",
        "rollout-backend": "local",
        "prometheus-url": runtime.prometheus_url(),
    }
    if data is not None:
        arguments |= {"data": _uri(data), "reference": _uri(reference) if reference else ""}
    elif resume is None:
        raise WorkflowError("the training workflow needs data")
    if tuning_trials is not None:
        arguments["tuning-trials"] = str(tuning_trials)
    run = executor(runtime, echo, steps, cache, sleep)
    result = run.run(definitions.train_and_promote(), arguments, target, resume)
    _tag_cached(runtime.mlflow, result)
    return result


def _tag_cached(client: MlflowClient, result: RunResult) -> None:
    """Name the steps that came from the cache on the pipeline's MLflow run."""
    cached = [t.name for t in result.tasks if t.reused == "cached"]
    try:
        run_id = result.task("validate-data").outputs.get("run-id")
    except KeyError:
        return
    if run_id:
        client.set_tag(run_id, CACHED_TAG, ",".join(cached) or "none")


def run_drift_monitor(
    runtime: Runtime,
    data: DataUri,
    reference: DataUri,
    echo: Callable[[str], None] | None = None,
) -> RunResult:
    """One run of slipway-drift-monitor: on drift, the training runs here too."""
    arguments = _common(runtime) | {
        "data": _uri(data),
        "reference": _uri(reference),
    }
    return executor(runtime, echo).run(definitions.drift_monitor(), arguments)


def _report(client: MlflowClient, run_id: str) -> ValidationReport:
    """The validation report the validate-data step attached to the run."""
    with tempfile.TemporaryDirectory() as tmp:
        path = client.download_artifacts(run_id, "validation.json", tmp)
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    return ValidationReport(
        rows=int(data["rows"]),
        digest=str(data["digest"]),
        findings=[Finding(**f) for f in data["findings"]],
        drift=[
            DriftCheck(d["column"], d["test"], d["statistic"], d["threshold"])
            for d in data["drift"]
        ],
    )


def pipeline_result(result: RunResult, settings: Settings, client: MlflowClient) -> PipelineResult:
    """What `slipway pipeline run` reports, for a local run that got through register."""
    run_id = result.task("validate-data").outputs["run-id"]
    register = result.task("register").outputs
    registration = (
        aliases.Registration(
            settings.tracking.model_name,
            register["model-version"],
            register["became-champion"] == "true",
        )
        if register.get("model-version")
        else None
    )
    return PipelineResult(
        run_id, _report(client, run_id), decision_of(client, run_id), registration
    )


def render_run(result: RunResult, indent: str = "") -> str:
    """One line per task: status, seconds, outputs or why it did not run."""
    title = f"{result.workflow}: {result.status}" + (f" (run {result.name})" if result.name else "")
    lines = [f"{indent}{title}"]
    for task in [*result.tasks, *result.on_exit]:
        detail = task.message or " ".join(f"{k}={v}" for k, v in task.outputs.items())
        if task.attempts > 1:
            detail = f"[{task.attempts} attempts] {detail}"
        status = task.reused or task.status  # "cached" or "resumed": succeeded, not run
        lines.append(f"{indent}  {task.name:<14} {status:<10} {task.seconds:6.1f}s  {detail}")
        for child in task.children:
            lines.append(
                f"{indent}    {child.name:<22} {child.reused or child.status:<10} "
                f"{child.seconds:6.1f}s  {child.message}"
            )
        if task.nested is not None:
            lines.append(render_run(task.nested, indent + "    "))
    lines += [
        f"{indent}  {name:<14} {'not run':<10} {'':>7}  outside this run"
        for name in result.excluded
    ]
    return "\n".join(line.rstrip() for line in lines)
