"""The ``slipway`` command: a thin layer over the library.

Every command maps to one library call; problems the user can fix (SlipwayError) print as
one ``error:`` line and exit 1, never as a traceback.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Annotated, Any

import typer

# Quiet MLflow's terminal chatter before it is imported anywhere.
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")

from slipway.cli.common import ConfigOpt, StateOpt, friendly
from slipway.errors import DataError

app = typer.Typer(help="slipway: train, track, register and serve models.", no_args_is_help=True)
data_app = typer.Typer(help="Generate, validate and fingerprint datasets.", no_args_is_help=True)
pipeline_app = typer.Typer(
    help="The training pipeline, whole or one step at a time.", no_args_is_help=True
)
local_app = typer.Typer(help="The local stack (embedded default).", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(pipeline_app, name="pipeline")
app.add_typer(local_app, name="local")


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # MLflow sets its own logger's level when it is first imported (lazily, later);
    # keep its INFO chatter for --verbose.
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "INFO" if verbose else "WARNING")


# ---------------------------------------------------------------- data


@data_app.command("generate")
@friendly
def data_generate(
    out: Annotated[Path, typer.Argument(help="Output file (.csv or .parquet).")],
    rows: Annotated[int, typer.Option(min=1)] = 5000,
    seed: int = 0,
    drift: Annotated[float, typer.Option(help="Shift of the drifted features.")] = 0.0,
    drift_feature: Annotated[
        list[str] | None, typer.Option(help="Feature to drift (repeatable).")
    ] = None,
) -> None:
    """Write a seeded synthetic churn dataset."""
    from slipway.data import synthetic, tables

    try:
        frame = synthetic.generate(
            rows, seed, drift, tuple(drift_feature or ("monthly_charges", "contract"))
        )
    except ValueError as exc:
        raise DataError(str(exc)) from exc
    tables.write_table(frame, out)
    typer.echo(f"wrote {len(frame)} rows to {out} ({tables.table_digest(frame)})")


@data_app.command("digest")
@friendly
def data_digest(path: Path) -> None:
    """Print the content digest (the data version) of a CSV or Parquet file."""
    from slipway.data import tables

    typer.echo(tables.table_digest(tables.read_table(path)))


@data_app.command("validate")
@friendly
def data_validate(
    path: Path,
    config: ConfigOpt = None,
    reference: Annotated[Path | None, typer.Option(help="Reference data for drift checks.")] = None,
    report: Annotated[Path | None, typer.Option(help="Also write the JSON report here.")] = None,
) -> None:
    """Check a dataset against its contract (and a reference); exit 1 when it fails."""
    from slipway.config import load_settings
    from slipway.data import tables
    from slipway.data.contract import load_contract
    from slipway.data.validation import validate

    settings = load_settings(config)
    frame = tables.read_table(path)
    ref = tables.read_table(reference) if reference else None
    result = validate(
        frame, load_contract(settings.data.contract), settings.validation,
        tables.table_digest(frame), ref,
    )  # fmt: skip
    if report:
        report.write_text(result.to_json(), encoding="utf-8")
    typer.echo(result.to_table())
    if not result.passed:
        raise typer.Exit(1)


# ---------------------------------------------------------------- pipeline


def _client(config: Path | None, state_dir: Path | None) -> tuple[Any, Any]:
    from slipway.config import load_settings
    from slipway.registry import tracking

    settings = load_settings(config)
    return settings, tracking.client_for(settings.tracking, state_dir)


@pipeline_app.command("run")
@friendly
def pipeline_run(
    data: Annotated[Path, typer.Option(help="Training data (.csv or .parquet).")],
    config: ConfigOpt = None,
    reference: Annotated[Path | None, typer.Option(help="Reference data for drift checks.")] = None,
    state_dir: StateOpt = None,
) -> None:
    """validate -> train -> evaluate -> register, in one process."""
    from slipway.pipeline.steps import run_pipeline
    from slipway.pipeline.summary import render_summary

    settings, client = _client(config, state_dir)
    result = run_pipeline(client, settings, data, reference)
    typer.echo(render_summary(result, settings, client.tracking_uri))


@pipeline_app.command("validate")
@friendly
def pipeline_validate(
    data: Path,
    config: ConfigOpt = None,
    reference: Annotated[Path | None, typer.Option()] = None,
    run_id_file: Annotated[Path | None, typer.Option(help="Write the new run id here.")] = None,
    state_dir: StateOpt = None,
) -> None:
    """Step 1: open the MLflow run and validate the data."""
    from slipway.pipeline.steps import validate_step

    settings, client = _client(config, state_dir)
    outcome = validate_step(client, settings, data, reference)
    if run_id_file:
        run_id_file.write_text(outcome.run_id, encoding="utf-8")
    typer.echo(outcome.report.to_table())
    typer.echo(f"run id: {outcome.run_id}")
    if not outcome.report.passed:
        raise typer.Exit(1)


@pipeline_app.command("train")
@friendly
def pipeline_train(
    run_id: Annotated[str, typer.Option()],
    data: Annotated[Path, typer.Option()],
    config: ConfigOpt = None,
    state_dir: StateOpt = None,
) -> None:
    """Step 2: train and log the model (runs under torchrun for several processes)."""
    from slipway.pipeline.steps import train_step

    settings, client = _client(config, state_dir)
    model_uri = train_step(client, settings, run_id, data)
    if model_uri:
        typer.echo(f"model: {model_uri}")


@pipeline_app.command("evaluate")
@friendly
def pipeline_evaluate(
    run_id: Annotated[str, typer.Option()],
    data: Annotated[Path, typer.Option()],
    config: ConfigOpt = None,
    state_dir: StateOpt = None,
) -> None:
    """Step 3: score challenger and champion on held-out rows; apply the gate."""
    from slipway.pipeline.steps import evaluate_step

    settings, client = _client(config, state_dir)
    decision = evaluate_step(client, settings, run_id, data)
    typer.echo(json.dumps(decision.as_tags(), indent=2))


@pipeline_app.command("register")
@friendly
def pipeline_register(
    run_id: Annotated[str, typer.Option()],
    config: ConfigOpt = None,
    state_dir: StateOpt = None,
) -> None:
    """Step 4: register the run's model when its gate passed."""
    from slipway.pipeline.steps import decision_of, register_step

    settings, client = _client(config, state_dir)
    registration = register_step(client, settings, run_id, decision_of(client, run_id))
    typer.echo(
        f"registered {registration.name} version {registration.version}"
        if registration
        else "gate failed: nothing registered"
    )


# ---------------------------------------------------------------- local stack


@local_app.command("up")
@friendly
def local_up(
    state_dir: StateOpt = None,
    foreground: Annotated[
        bool, typer.Option(help="Stay attached; Ctrl-C stops the stack.")
    ] = False,
) -> None:
    """Start the local servers: MLflow, Prometheus (and model servers, as rollouts add them)."""
    import signal

    from slipway.local.stack import LocalStack

    def stop_on_sigterm(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # the same clean-up path as Ctrl-C

    stack = LocalStack(state_dir)
    if foreground:
        # Installed before anything starts, so a signal at any moment stops what started.
        signal.signal(signal.SIGTERM, stop_on_sigterm)
    try:
        for name, svc in stack.up().items():
            typer.echo(f"{name:<16} {svc.url}  (pid {svc.pid}, log {svc.log})")
        if foreground:
            typer.echo("running in the foreground: Ctrl-C stops the stack")
            while True:
                signal.pause()
    except KeyboardInterrupt:
        stack.down()
        typer.echo("local stack stopped")


@local_app.command("down")
@friendly
def local_down(state_dir: StateOpt = None) -> None:
    """Stop every local server."""
    from slipway.local.stack import LocalStack

    stopped = LocalStack(state_dir).down()
    typer.echo(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")


@local_app.command("status")
@friendly
def local_status(state_dir: StateOpt = None) -> None:
    """List the local servers; exit 1 when one is down."""
    from slipway.local.stack import LocalStack

    statuses = LocalStack(state_dir).status()
    if not statuses:
        typer.echo("local stack is not running (start it with `slipway local up`)")
        raise typer.Exit(1)
    for s in statuses:
        typer.echo(f"{s.name:<16} {s.url:<28} pid {s.pid:<8} {'healthy' if s.healthy else 'DOWN'}")
    if not all(s.healthy for s in statuses):
        raise typer.Exit(1)


# ---------------------------------------------------------------- demo


@app.command("demo")
@friendly
def demo(
    state_dir: StateOpt = None,
    keep: Annotated[bool, typer.Option(help="Leave the local stack running after.")] = True,
) -> None:
    """The whole loop on this machine: stack up, data, validate, train, evaluate, register."""
    from slipway.demo import run_demo

    typer.echo(run_demo(state_dir, keep=keep))


from slipway.cli.serving import rollout_app, serve  # noqa: E402

app.command("serve")(serve)
app.add_typer(rollout_app, name="rollout")

from slipway.cli.workflow import workflow_app  # noqa: E402

app.add_typer(workflow_app, name="workflow")


if __name__ == "__main__":
    app()
