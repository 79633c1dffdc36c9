"""The ``slipway`` command: a thin layer over the library, one module per command group.

Each command turns its options into a ``Runtime`` (slipway.runtime, the composition root)
and makes one library call. Problems the user can fix (``SlipwayError``) print as one
``error:`` line and exit non-zero, never as a traceback. Heavy libraries (MLflow, torch)
are imported inside the commands, so that ``--help`` stays fast.
"""

from __future__ import annotations

import logging
import os
from typing import Annotated

# Quiet MLflow's terminal chatter before it is imported anywhere.
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")

import typer

from slipway.cli.data import data_app
from slipway.cli.demo import demo
from slipway.cli.drift import drift_app
from slipway.cli.local import local_app
from slipway.cli.pipeline import pipeline_app
from slipway.cli.rollout import rollout_app
from slipway.cli.serve import serve
from slipway.cli.workflow import workflow_app

app = typer.Typer(help="slipway: train, track, register and serve models.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(pipeline_app, name="pipeline")
app.add_typer(local_app, name="local")
app.command("demo")(demo)
app.command("serve")(serve)
app.add_typer(rollout_app, name="rollout")
app.add_typer(workflow_app, name="workflow")
app.add_typer(drift_app, name="drift")


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # MLflow sets its own logger's level when it is first imported (lazily, later);
    # keep its INFO chatter for --verbose.
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "INFO" if verbose else "WARNING")
