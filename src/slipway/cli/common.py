"""Pieces every ``slipway`` command module shares: common options and error handling.

Kept apart from cli.py so that command modules (cli_serving) can import them without a
circular import through the main app.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from slipway.errors import SlipwayError

F = TypeVar("F", bound=Callable[..., Any])

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Config YAML (default: the packaged demo config).",
                 exists=True, dir_okay=False),
]  # fmt: skip
StateOpt = Annotated[
    Path | None, typer.Option("--state-dir", help="Local stack state (default: .slipway).")
]


def friendly(func: F) -> F:
    """Turn SlipwayError into ``error: ...`` on stderr and exit code 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except SlipwayError as exc:
            typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
            raise typer.Exit(1) from exc

    return wrapper  # type: ignore[return-value]
