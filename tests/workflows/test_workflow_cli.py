"""``slipway workflow run-local``'s new options are refused before a stack starts when they
cannot apply, and ``evict-cache`` empties the local step cache."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from slipway.cli import app
from slipway.config import load_settings
from slipway.runtime import Runtime
from slipway.state_files import write_json
from slipway.workflow import local_run


def _errors(args: list[str]) -> list[str]:
    done = CliRunner().invoke(app, args)
    assert done.exit_code == 1, done.output
    return [line for line in done.stderr.splitlines() if line.startswith("error:")]


def test_run_local_refuses_what_cannot_apply_before_a_stack_starts(tmp_path: Path) -> None:
    state = ["--state-dir", str(tmp_path / "state")]
    (error,) = _errors(["workflow", "run-local", *state])
    assert "--data is required (unless --resume names a run)" in error
    (error,) = _errors(["workflow", "run-local", "--workflow", "slipway-drift-monitor",
                        "--data", "x", "--reference", "y", "--resume", "r", *state])  # fmt: skip
    assert "for the training workflow" in error
    assert not (tmp_path / "state").exists()


def test_evict_cache_removes_the_entries(tmp_path: Path) -> None:
    runtime = Runtime(load_settings(), tmp_path / "state")
    folder = local_run.state_folder(runtime) / "cache"
    write_json(folder / "train" / "a.json", {})
    write_json(folder / "evaluate" / "b.json", {})
    args = ["workflow", "evict-cache", "--state-dir", str(tmp_path / "state")]
    done = CliRunner().invoke(app, [*args, "--step", "train"])
    assert done.exit_code == 0, done.output
    assert "removed 1 cached step result(s)" in done.output
    assert not (folder / "train").exists()
    done = CliRunner().invoke(app, args)
    assert "removed 1 cached step result(s)" in done.output
    assert not list(folder.rglob("*.json"))
