"""Every command answers a bad input of its own with one ``error:`` line, no traceback.

Each case is a mistake a user can make and fix (a missing file, a run id that does not
exist, no local stack, a corrupt state file, contradictory options). The commands run in a
subprocess, as a user runs them, so what reaches the terminal is what is asserted. MLflow
is a SQLite tracking store in the test's folder (no server), so nothing starts.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.main import get_command

from slipway.cli import app
from slipway.data import synthetic, tables

# Each case: (command path, extra args, what the error line must name). ``{tmp}`` is the
# test's folder, ``{db}`` a tracking store with no runs in it.
CASES: dict[str, tuple[list[str], str]] = {
    "data generate": (["{tmp}/x.csv", "--drift", "1", "--drift-feature", "zz"], "zz"),
    "data digest": (["{tmp}/missing.csv"], "no such file"),
    "data validate": (["{tmp}/empty.csv"], "empty"),
    "pipeline run": (["--data", "{tmp}/missing.csv", "--state-dir", "{tmp}/nostack"], "MLflow"),
    "pipeline validate": (["{tmp}/missing.csv", "--state-dir", "{tmp}/nostack"], "MLflow"),
    "pipeline train": (["--run-id", "0123abc", "--data", "{tmp}/train.csv"], "0123abc"),
    "pipeline evaluate": (["--run-id", "0123abc", "--data", "{tmp}/train.csv"], "0123abc"),
    "pipeline register": (["--run-id", "0123abc"], "0123abc"),
    "local up": (["--state-dir", "{tmp}/a-file"], "a-file"),
    "local down": (["--state-dir", "{tmp}/corrupt"], "corrupt"),
    "local status": (["--state-dir", "{tmp}/corrupt"], "corrupt"),
    "demo": (["--state-dir", "{tmp}/a-file"], "a-file"),
    "serve": (["--model-dir", "{tmp}", "--model-uri", "models:/m@champion"], "exactly one"),
    "rollout start": (["--state-dir", "{tmp}/nostack"], "MLflow"),
    "rollout status": (["--state-dir", "{tmp}/corrupt"], "rollout.json"),
    "rollout history": (["--limit", "0", "--state-dir", "{tmp}/nostack"], "--limit"),
    "rollout abort": (["--state-dir", "{tmp}/corrupt"], "rollout.json"),
    "rollout recover": (["--model", "m", "--state-dir", "{tmp}/a-file"], "a-file"),
    "workflow render": (["--check", "--root", "{tmp}/not-a-repo"], "not-a-repo"),
    "workflow evict-cache": (["--step", "../../etc", "--state-dir", "{tmp}/nostack"], "../../etc"),
    "workflow submit": (["-p", "data=s3://b/k"], "argo.server"),
    "workflow status": (["wf-1"], "argo.server"),
    "workflow logs": (["wf-1"], "argo.server"),
    "drift check": (["--state-dir", "{tmp}/a-file"], "a-file"),
    "drift receiver": (["--state-dir", "{tmp}/a-file"], "a-file"),
    "workflow run-local": (
        ["--data", "{tmp}/empty.csv", "--workflow", "slipway-drift-monitor"],
        "--reference",
    ),
}


def _leaf_commands() -> list[str]:
    leaves: list[str] = []

    def walk(command: object, prefix: list[str]) -> None:
        subs = getattr(command, "commands", {})
        if not subs and prefix:
            leaves.append(" ".join(prefix))
        for name, sub in subs.items():
            walk(sub, [*prefix, name])

    walk(get_command(app), [])
    return leaves


def test_every_command_has_a_bad_input_case() -> None:
    assert sorted(_leaf_commands()) == sorted(CASES)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("cli-errors")
    (tmp / "empty.csv").write_text("")
    tables.write_table(synthetic.generate(50, seed=0), tmp / "train.csv")
    (tmp / "a-file").write_text("not a folder")
    corrupt = tmp / "corrupt"
    corrupt.mkdir()
    (corrupt / "stack.json").write_text("{not json")
    (corrupt / "rollout.json").write_text("{not json")
    return tmp


@pytest.mark.parametrize("command", sorted(CASES))
def test_bad_input_is_one_error_line(command: str, world: Path) -> None:
    args, named = CASES[command]
    argv = [a.replace("{tmp}", str(world)) for a in args]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLIPWAY_", "MLFLOW_"))}
    if command.startswith("pipeline ") and "--state-dir" not in args:
        # A tracking store with no runs: the run id given is unknown to it.
        env["MLFLOW_TRACKING_URI"] = f"sqlite:///{world / 'mlflow.db'}"
    result = subprocess.run(
        [sys.executable, "-m", "slipway.cli", *command.split(), *argv],
        capture_output=True, text=True, env=env, cwd=world, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert named in errors[0], errors[0]
