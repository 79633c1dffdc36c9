"""The CLI is thin: help everywhere, one-line errors, non-zero exits on failure."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from slipway.cli import app
from slipway.data import synthetic, tables

runner = CliRunner()


def _all_commands() -> list[list[str]]:
    paths: list[list[str]] = []

    def walk(command: object, prefix: list[str]) -> None:
        paths.append(prefix)
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, [*prefix, name])

    walk(get_command(app), [])
    return paths


@pytest.mark.parametrize("path", _all_commands(), ids=lambda p: " ".join(p) or "slipway")
def test_every_command_has_help(path: list[str]) -> None:
    result = runner.invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_generate_then_validate_then_digest(tmp_path: Path) -> None:
    out = tmp_path / "d.parquet"
    result = runner.invoke(app, ["data", "generate", str(out), "--rows", "500", "--seed", "3"])
    assert result.exit_code == 0, result.output
    assert "wrote 500 rows" in result.output
    report = tmp_path / "report.json"
    ok = runner.invoke(app, ["data", "validate", str(out), "--report", str(report)])
    assert ok.exit_code == 0, ok.output
    assert '"passed": true' in report.read_text()
    digest = runner.invoke(app, ["data", "digest", str(out)])
    assert digest.output.strip() == tables.table_digest(synthetic.generate(500, seed=3))


def test_validate_fails_with_the_column_named(tmp_path: Path) -> None:
    frame = synthetic.generate(300, seed=1)
    frame.loc[0, "age"] = 500
    path = tmp_path / "bad.csv"
    tables.write_table(frame, path)
    result = runner.invoke(app, ["data", "validate", str(path)])
    assert result.exit_code == 1
    assert "age" in result.output
    assert "range" in result.output


def test_drift_against_reference_fails(tmp_path: Path) -> None:
    current, reference = tmp_path / "cur.csv", tmp_path / "ref.csv"
    tables.write_table(synthetic.generate(2000, seed=1, drift=1.5), current)
    tables.write_table(synthetic.generate(2000, seed=2), reference)
    result = runner.invoke(app, ["data", "validate", str(current), "--reference", str(reference)])
    assert result.exit_code == 1
    assert "DRIFT" in result.output


def test_errors_are_one_line_not_tracebacks(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    result = runner.invoke(app, ["data", "validate", str(empty)])
    assert result.exit_code == 1
    assert "error:" in result.output
    assert "empty" in result.output
    assert "Traceback" not in result.output
    bad_config = tmp_path / "c.yaml"
    bad_config.write_text("data: {contract: x.yaml}\ntraining: {epochs: -1}\n")
    result = runner.invoke(app, ["data", "validate", str(empty), "--config", str(bad_config)])
    assert result.exit_code == 1
    assert "training.epochs" in result.output


def test_generate_rejects_unknown_drift_feature(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["data", "generate", str(tmp_path / "x.csv"), "--drift", "1", "--drift-feature", "zz"]
    )
    assert result.exit_code == 1
    assert "zz" in result.output


def test_status_without_a_stack_exits_non_zero(tmp_path: Path) -> None:
    result = runner.invoke(app, ["local", "status", "--state-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "not running" in result.output
