"""``slipway demo``: the loop on this machine, with the demo data."""

from __future__ import annotations

from typing import Annotated

import typer

from slipway.cli.common import StateOpt, friendly, runtime


@friendly
def demo(
    state_dir: StateOpt = None,
    keep: Annotated[bool, typer.Option(help="Leave the local stack running after.")] = True,
    runs: Annotated[
        int, typer.Option(help="Stop after this many of the four runs (1: train and register).")
    ] = 4,
) -> None:
    """The whole loop on this machine: a champion, a canary promoted under load, a bad
    challenger rolled back, drift found and retraining started; a summary and an HTML report."""
    from slipway.demo import run_demo

    typer.echo(run_demo(runtime(None, state_dir), keep=keep, runs=runs))
