"""``slipway workflow render|run-local|evict-cache|submit|status|logs``: the Argo workflows,
rendered, run on this machine, or submitted to an Argo Server and followed there."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from slipway.cli.common import ConfigOpt, StateOpt, friendly, runtime

workflow_app = typer.Typer(
    help="The Argo workflows: render them for the cluster, or run them here.",
    no_args_is_help=True,
)


class WorkflowName(StrEnum):
    train = "slipway-train-and-promote"
    drift = "slipway-drift-monitor"


class StepRunnerName(StrEnum):
    in_process = "in-process"
    container = "container"


@workflow_app.command("render")
@friendly
def render(
    check: Annotated[
        bool, typer.Option("--check", help="Write nothing; exit 1 when a file is out of date.")
    ] = False,
    root: Annotated[Path, typer.Option(help="Repository root.", file_okay=False)] = Path("."),
) -> None:
    """Render the Hera definitions into the ml-workflows chart (files/workflows/)."""
    from slipway.workflow import render as renderer

    if check:
        stale = renderer.differences(root)
        for path in stale:
            typer.echo(f"out of date: {path}", err=True)
        if stale:
            typer.echo("run `slipway workflow render` and commit the result", err=True)
            raise typer.Exit(1)
        typer.echo("rendered workflows are up to date")
        return
    changed = renderer.write(root)
    typer.echo("\n".join(f"wrote {p}" for p in changed) or "rendered workflows are up to date")


@workflow_app.command("run-local")
@friendly
def run_local(
    data: Annotated[
        str | None,
        typer.Option(
            help="Data: training or latest; a path or s3://bucket/key (.csv, .parquet). "
            "With --resume: the run's own unless given."
        ),
    ] = None,
    reference: Annotated[
        str | None, typer.Option(help="Reference data (required by the drift monitor).")
    ] = None,
    config: ConfigOpt = None,
    workflow: Annotated[WorkflowName, typer.Option(help="Which workflow.")] = WorkflowName.train,
    until: Annotated[
        str | None, typer.Option(help="Run only this task and what it depends on.")
    ] = None,
    state_dir: StateOpt = None,
    runner: Annotated[
        StepRunnerName,
        typer.Option(help="in-process: each step's function here; container: its image (podman)."),
    ] = StepRunnerName.in_process,
    image_map: Annotated[
        list[str] | None,
        typer.Option(
            help="With --runner container: TEMPLATE_IMAGE=LOCAL_IMAGE, e.g. "
            "ghcr.io/slipway-ml/slipway-trainer=localhost/slipway-trainer:dev (repeatable)."
        ),
    ] = None,
    tuning_trials: Annotated[
        int | None,
        typer.Option(min=0, help="Hyperparameter trials before training (0: none, the default)."),
    ] = None,
    resume: Annotated[
        str | None,
        typer.Option(help="Rerun this failed run (its name) from the step that failed."),
    ] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Run every step; read and write no cache.")
    ] = False,
    cache_ignore: Annotated[
        list[str] | None,
        typer.Option(
            help="An input left out of the steps' cache keys, e.g. reference (repeatable)."
        ),
    ] = None,
) -> None:
    """Run a workflow's DAG here: local executor, local stack (started if needed, left up).

    Steps whose inputs did not change come from the step cache (never register or
    canary); a failed run can be resumed by its name (`--resume`, shown in the table)."""
    from slipway.errors import SlipwayError
    from slipway.pipeline.summary import render_summary
    from slipway.workflow import local_run

    if workflow is WorkflowName.drift and reference is None:
        raise SlipwayError("the drift monitor needs --reference")
    if workflow is WorkflowName.drift and (until, resume, tuning_trials) != (None, None, None):
        raise SlipwayError("--until, --resume and --tuning-trials are for the training workflow")
    cache = local_run.CacheOptions(not no_cache, tuple(cache_ignore or ()))
    if data is None and resume is None:
        raise SlipwayError("--data is required (unless --resume names a run)")
    if image_map and runner is not StepRunnerName.container:
        raise SlipwayError("--image-map is for --runner container")
    steps = None

    def progress(line: str) -> None:
        typer.echo(line, err=True)

    if runner is StepRunnerName.container:
        if workflow is WorkflowName.drift or until not in local_run.CONTAINER_TARGETS:
            raise SlipwayError(
                "--runner container runs the training workflow --until register (or before)"
            )
        # Refused here, before a stack starts: a bad image map or data URI.
        local_run.container_steps(image_map or [], [data, reference, config])
    rt = runtime(config, state_dir)
    rt.start_local_stack()
    if runner is StepRunnerName.container:
        # Each step's pod gets the stack's S3 as a pod on EKS gets IRSA's credentials.
        files = [data, reference, config]
        pod_env = rt.storage_environment()
        steps = local_run.container_steps(image_map or [], files, progress, pod_env=pod_env)

    if workflow is WorkflowName.drift:
        assert reference is not None
        assert data is not None
        result = local_run.run_drift_monitor(rt, data, reference, progress)
    else:
        result = local_run.run_training(
            rt, data, reference, until, progress, steps, tuning_trials, cache, resume
        )
    typer.echo(local_run.render_run(result))
    sys.stdout.flush()
    result.raise_for_failure()
    names = {t.name for t in result.tasks if t.status == "Succeeded"}
    if {"validate-data", "register"} <= names:
        summary = local_run.pipeline_result(result, rt.settings, rt.mlflow)
        typer.echo(render_summary(summary, rt.settings, rt.mlflow.tracking_uri))


@workflow_app.command("evict-cache")
@friendly
def evict_cache(
    step: Annotated[
        str | None, typer.Option(help="Only this step's template, e.g. train; default: all.")
    ] = None,
    config: ConfigOpt = None,
    state_dir: StateOpt = None,
) -> None:
    """Remove entries from the local step cache, so that those steps run again."""
    from slipway.errors import WorkflowError
    from slipway.workflow import local_run
    from slipway.workflow.definitions import all_workflows

    if step is not None:
        # A typo would otherwise evict nothing and say so quietly; a path would reach
        # outside the cache folder.
        known: set[str] = set()
        for workflow in all_workflows():
            spec = workflow.build().spec
            spec = getattr(spec, "workflow_spec", spec)  # a CronWorkflow wraps its spec
            known |= {t.name for t in getattr(spec, "templates", None) or [] if t.name}
        if step not in known:
            raise WorkflowError(f"--step {step!r}: no such template; one of {sorted(known)}")
    removed = local_run.step_cache(runtime(config, state_dir)).evict(step)
    typer.echo(f"removed {removed} cached step result(s)")


def _parameters(items: list[str] | None) -> dict[str, str]:
    from slipway.errors import SlipwayError

    parameters: dict[str, str] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise SlipwayError(f"parameter {item!r}: expected NAME=VALUE")
        parameters[name.strip()] = value
    return parameters


@workflow_app.command("submit")
@friendly
def submit(
    parameter: Annotated[
        list[str] | None,
        typer.Option("--parameter", "-p", help="NAME=VALUE, e.g. -p data=s3://b/k (repeatable)."),
    ] = None,
    workflow: Annotated[WorkflowName, typer.Option(help="Which WorkflowTemplate.")] = (
        WorkflowName.train
    ),
    config: ConfigOpt = None,
) -> None:
    """Submit a Workflow from a WorkflowTemplate to the Argo Server (token: $ARGO_TOKEN)."""
    from slipway.config import load_settings
    from slipway.workflow.argo_client import ArgoClient

    with ArgoClient(load_settings(config).argo) as client:
        typer.echo(client.submit(workflow.value, _parameters(parameter)))


@workflow_app.command("status")
@friendly
def status(
    name: Annotated[str, typer.Argument(help="The Workflow's name (what submit printed).")],
    config: ConfigOpt = None,
) -> None:
    """A submitted Workflow's phase and its steps, from the Argo Server."""
    from slipway.config import load_settings
    from slipway.workflow.argo_client import ArgoClient

    with ArgoClient(load_settings(config).argo) as client:
        typer.echo(client.status(name).render())


@workflow_app.command("logs")
@friendly
def logs(
    name: Annotated[str, typer.Argument(help="The Workflow's name.")],
    grep: Annotated[str | None, typer.Option(help="Only lines that contain this.")] = None,
    config: ConfigOpt = None,
) -> None:
    """The steps' logs of a submitted Workflow, from the Argo Server."""
    from slipway.config import load_settings
    from slipway.workflow.argo_client import ArgoClient

    with ArgoClient(load_settings(config).argo) as client:
        for line in client.logs(name, grep):
            typer.echo(line)
