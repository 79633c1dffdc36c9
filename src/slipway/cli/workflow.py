"""``slipway workflow render|run-local``: the Argo workflows, rendered or run on this machine.

Registered on the main CLI at the end of cli.py; shared options come from cli_common so
that this module never imports cli.py (an import cycle).
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from slipway.cli.common import ConfigOpt, StateOpt, friendly

workflow_app = typer.Typer(
    help="The Argo workflows: render them for the cluster, or run them here.",
    no_args_is_help=True,
)


class WorkflowName(StrEnum):
    train = "slipway-train-and-promote"
    drift = "slipway-drift-monitor"


@workflow_app.command("render")
@friendly
def render(
    check: Annotated[
        bool, typer.Option("--check", help="Write nothing; exit 1 when a file is out of date.")
    ] = False,
    root: Annotated[Path, typer.Option(help="Repository root.", file_okay=False)] = Path("."),
) -> None:
    """Render the Hera definitions to workflows/rendered/ and the ml-workflows chart."""
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
    data: Annotated[Path, typer.Option(help="Data (.csv or .parquet): training or latest.")],
    reference: Annotated[
        Path | None, typer.Option(help="Reference data (required by the drift monitor).")
    ] = None,
    config: ConfigOpt = None,
    workflow: Annotated[WorkflowName, typer.Option(help="Which workflow.")] = WorkflowName.train,
    until: Annotated[
        str | None, typer.Option(help="Run only this task and what it depends on.")
    ] = None,
    state_dir: StateOpt = None,
) -> None:
    """Run a workflow's DAG here: local executor, local stack (started if needed, left up)."""
    from slipway.config import load_settings
    from slipway.errors import SlipwayError
    from slipway.local.stack import LocalStack
    from slipway.pipeline.summary import render_summary
    from slipway.registry import tracking
    from slipway.workflow import local_run

    stack = LocalStack(state_dir)
    stack.up()

    def progress(line: str) -> None:
        typer.echo(line, err=True)

    if workflow is WorkflowName.drift:
        if reference is None:
            raise SlipwayError("the drift monitor needs --reference")
        if until is not None:
            raise SlipwayError("--until is for the training workflow")
        result = local_run.run_drift_monitor(stack, data, reference, config, progress)
    else:
        result = local_run.run_training(stack, data, reference, config, until, progress)
    typer.echo(local_run.render_run(result))
    sys.stdout.flush()
    result.raise_for_failure()
    names = {t.name for t in result.tasks if t.status == "Succeeded"}
    if {"validate-data", "register"} <= names:
        settings = load_settings(config)
        client = tracking.client_for(settings.tracking, stack.state_dir)
        summary = local_run.pipeline_result(result, settings, client)
        typer.echo(render_summary(summary, settings, client.tracking_uri))
