"""``slipway data generate|digest|validate``: datasets, their versions and their checks."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from slipway.cli.common import ConfigOpt, StateOpt, friendly, runtime
from slipway.errors import DataError

data_app = typer.Typer(help="Generate, validate and fingerprint datasets.", no_args_is_help=True)


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
def data_digest(
    path: Annotated[str, typer.Argument(help="A path or s3://bucket/key (.csv, .parquet).")],
    state_dir: StateOpt = None,
) -> None:
    """Print the content digest (the data version) of a CSV or Parquet table."""
    from slipway.data import tables

    runtime(None, state_dir)  # s3:// data: the environment's S3, else the local stack's

    typer.echo(tables.table_digest(tables.read_table(path)))


@data_app.command("validate")
@friendly
def data_validate(
    path: Annotated[str, typer.Argument(help="A path or s3://bucket/key (.csv, .parquet).")],
    config: ConfigOpt = None,
    reference: Annotated[
        str | None, typer.Option(help="Reference data (path or s3://) for drift checks.")
    ] = None,
    report: Annotated[Path | None, typer.Option(help="Also write the JSON report here.")] = None,
    state_dir: StateOpt = None,
) -> None:
    """Check a dataset against its contract (and a reference); exit 1 when it fails."""
    from slipway.data import tables
    from slipway.data.contract import load_contract
    from slipway.data.validation import validate

    settings = runtime(config, state_dir).settings  # and, for s3:// data, the S3 to read
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
