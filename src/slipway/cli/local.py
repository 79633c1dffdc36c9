"""``slipway local up|down|status``: the local stack (the embedded default)."""

from __future__ import annotations

import signal
from typing import Annotated

import typer

from slipway.cli.common import ConfigOpt, StateOpt, friendly, runtime

local_app = typer.Typer(help="The local stack (embedded default).", no_args_is_help=True)


@local_app.command("up")
@friendly
def local_up(
    config: ConfigOpt = None,
    state_dir: StateOpt = None,
    foreground: Annotated[
        bool, typer.Option(help="Stay attached; Ctrl-C stops the stack.")
    ] = False,
    artifacts_in_s3: Annotated[
        bool,
        typer.Option(
            help="MLflow keeps artifacts in the local S3's bucket, as on the cluster (they are "
            "gone after `local down`; default: a folder)."
        ),
    ] = False,
) -> None:
    """Start the local servers: S3 (moto, standing in for AWS S3), MLflow, Prometheus (and
    model servers, as rollouts add them)."""

    def stop_on_sigterm(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # the same clean-up path as Ctrl-C

    rt = runtime(config, state_dir)
    if foreground:
        # Installed before anything starts, so a signal at any moment stops what started.
        signal.signal(signal.SIGTERM, stop_on_sigterm)
    try:
        rt.start_local_stack(artifacts_in_s3=artifacts_in_s3)
        for name, svc in rt.stack.services().items():
            typer.echo(f"{name:<16} {svc.url}  (pid {svc.pid}, log {svc.log})")
        if foreground:
            typer.echo("running in the foreground: Ctrl-C stops the stack")
            while True:
                signal.pause()
    except KeyboardInterrupt:
        rt.stack.down()
        typer.echo("local stack stopped")


@local_app.command("down")
@friendly
def local_down(state_dir: StateOpt = None) -> None:
    """Stop every local server."""
    stopped = runtime(None, state_dir).stack.down()
    typer.echo(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")


@local_app.command("status")
@friendly
def local_status(state_dir: StateOpt = None) -> None:
    """List the local servers; exit 1 when one is down."""
    statuses = runtime(None, state_dir).stack.status()
    if not statuses:
        typer.echo("local stack is not running (start it with `slipway local up`)")
        raise typer.Exit(1)
    for s in statuses:
        typer.echo(f"{s.name:<16} {s.url:<28} pid {s.pid:<8} {'healthy' if s.healthy else 'DOWN'}")
    if not all(s.healthy for s in statuses):
        raise typer.Exit(1)
