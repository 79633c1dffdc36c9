"""``slipway drift check|receiver``: the drift step on served payloads, and the alert receiver."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from slipway.cli.common import ConfigOpt, StateOpt, friendly, runtime

drift_app = typer.Typer(help="Drift on served traffic, and retraining from an alert.")


@drift_app.command("check")
@friendly
def check(
    version: Annotated[
        str | None, typer.Option(help="The model version (default: the champion).")
    ] = None,
    labels: Annotated[
        str | None,
        typer.Option(help="Ground truth (CSV/Parquet, path or s3://): request_id, [row], label."),
    ] = None,
    push: Annotated[bool, typer.Option(help="Push the metrics to the Pushgateway.")] = True,
    config: ConfigOpt = None,
    state_dir: StateOpt = None,
) -> None:
    """Compare the served window with the version's training reference (Evidently); log
    the report on the version's MLflow run; push the metrics. Prints the findings."""
    from slipway.monitoring import step

    rt = runtime(config, state_dir)
    outcome = step.run(
        rt.mlflow,
        rt.settings,
        version=version,
        pushgateway_url=rt.pushgateway_url() if push else None,
        labels=labels,
    )
    typer.echo(json.dumps(outcome.summary(), indent=2))


@drift_app.command("receiver")
@friendly
def receiver(
    port: Annotated[int, typer.Option(min=1, max=65535)] = 9095,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    config: ConfigOpt = None,
    state_dir: StateOpt = None,
) -> None:
    """Serve slipway's Alertmanager receiver: a drift alert starts the training workflow
    here (every gate kept), once per incident and cool-down."""
    from slipway.monitoring.receiver import Receiver, serve
    from slipway.monitoring.retrain import local_retrain

    rt = runtime(config, state_dir)
    settings = rt.settings.monitoring.retraining
    server = serve(Receiver(rt.state_dir, settings, local_retrain(rt)), port, host)
    typer.echo(f"alert receiver on http://{host}:{port}/alerts")
    try:
        server.serve_forever()
    finally:
        server.server_close()


__all__ = ["drift_app"]
