"""``slipway pipeline run|validate|train|evaluate|register``: the training pipeline, whole
or one step at a time (each step hands over through the MLflow run id)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from slipway.cli.common import ConfigOpt, StateOpt, friendly, runtime

# The options of the steps that continue a run: the run id validate opened, and the data.
RunIdOpt = Annotated[str, typer.Option(help="The pipeline's MLflow run (from the validate step).")]
DataOpt = Annotated[
    str,
    typer.Option(help="The data the run validated: a path or s3://bucket/key (.csv, .parquet)."),
]

pipeline_app = typer.Typer(
    help="The training pipeline, whole or one step at a time.", no_args_is_help=True
)


@pipeline_app.command("run")
@friendly
def pipeline_run(
    data: Annotated[
        str, typer.Option(help="Training data: a path or s3://bucket/key (.csv, .parquet).")
    ],
    config: ConfigOpt = None,
    reference: Annotated[
        str | None, typer.Option(help="Reference data (path or s3://) for drift checks.")
    ] = None,
    state_dir: StateOpt = None,
) -> None:
    """validate -> train -> evaluate -> register, in one process."""
    from slipway.pipeline.steps import run_pipeline
    from slipway.pipeline.summary import render_summary

    rt = runtime(config, state_dir)
    result = run_pipeline(rt.mlflow, rt.settings, data, reference)
    typer.echo(render_summary(result, rt.settings, rt.mlflow.tracking_uri))


@pipeline_app.command("validate")
@friendly
def pipeline_validate(
    data: Annotated[str, typer.Argument(help="A path or s3://bucket/key (.csv, .parquet).")],
    config: ConfigOpt = None,
    reference: Annotated[str | None, typer.Option(help="Reference data (path or s3://).")] = None,
    run_id_file: Annotated[Path | None, typer.Option(help="Write the new run id here.")] = None,
    state_dir: StateOpt = None,
) -> None:
    """Step 1: open the MLflow run and validate the data."""
    from slipway.pipeline.steps import validate_step

    rt = runtime(config, state_dir)
    outcome = validate_step(rt.mlflow, rt.settings, data, reference)
    if run_id_file:
        run_id_file.write_text(outcome.run_id, encoding="utf-8")
    typer.echo(outcome.report.to_table())
    typer.echo(f"run id: {outcome.run_id}")
    if not outcome.report.passed:
        raise typer.Exit(1)


@pipeline_app.command("train")
@friendly
def pipeline_train(
    run_id: RunIdOpt, data: DataOpt, config: ConfigOpt = None, state_dir: StateOpt = None
) -> None:
    """Step 2: train and log the model (runs under torchrun for several processes)."""
    from slipway.pipeline.steps import train_step

    rt = runtime(config, state_dir)
    model_uri = train_step(rt.mlflow, rt.settings, run_id, data)
    if model_uri:
        typer.echo(f"model: {model_uri}")


@pipeline_app.command("evaluate")
@friendly
def pipeline_evaluate(
    run_id: RunIdOpt, data: DataOpt, config: ConfigOpt = None, state_dir: StateOpt = None
) -> None:
    """Step 3: score challenger and champion on held-out rows; apply the gate."""
    from slipway.pipeline.steps import evaluate_step

    rt = runtime(config, state_dir)
    decision = evaluate_step(rt.mlflow, rt.settings, run_id, data)
    typer.echo(json.dumps(decision.as_tags(), indent=2))


@pipeline_app.command("register")
@friendly
def pipeline_register(
    run_id: RunIdOpt, config: ConfigOpt = None, state_dir: StateOpt = None
) -> None:
    """Step 4: register the run's model when its gate passed."""
    from slipway.pipeline.steps import decision_of, register_step

    rt = runtime(config, state_dir)
    registration = register_step(rt.mlflow, rt.settings, run_id, decision_of(rt.mlflow, run_id))
    typer.echo(
        f"registered {registration.name} version {registration.version}"
        if registration
        else "gate failed: nothing registered"
    )
