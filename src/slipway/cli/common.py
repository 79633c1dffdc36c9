"""What every command module shares: the common options, the runtime, error handling."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from slipway.errors import SlipwayError
from slipway.runtime import Runtime

F = TypeVar("F", bound=Callable[..., Any])

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Config YAML (default: the packaged demo config).",
                 exists=True, dir_okay=False),
]  # fmt: skip
StateOpt = Annotated[
    Path | None, typer.Option("--state-dir", help="Local stack state (default: .slipway).")
]


def runtime(config: Path | None, state_dir: Path | None) -> Runtime:
    """The composition root for one command: its settings and the platform it talks to."""
    rt = Runtime.load(config, state_dir)
    rt.export_storage_environment()  # the local stack's S3, for s3:// data (none: no-op)
    return rt


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
