"""``slipway demo``: the loop on this machine, with the demo data."""

from __future__ import annotations

from typing import Annotated

import typer

from slipway.cli.common import StateOpt, friendly, runtime


@friendly
def demo(
    state_dir: StateOpt = None,
    keep: Annotated[bool, typer.Option(help="Leave the local stack running after.")] = True,
) -> None:
    """The whole loop on this machine: stack up, data, validate, train, evaluate, register."""
    from slipway.demo import run_demo

    typer.echo(run_demo(runtime(None, state_dir), keep=keep))
