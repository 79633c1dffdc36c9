"""Fixtures of the Terraform tests: checkov runs, once per session each.

checkov lives in its own environment (.tools/checkov, installed by `make setup`): it pins a
python-hcl2 of its own, so it cannot share .venv.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tf_helpers import FIXTURES_DIR, POLICIES_DIR, REPO_ROOT, TERRAFORM_DIR

CHECKOV = REPO_ROOT / ".tools" / "checkov" / "bin" / "checkov"


def run_checkov(directory: Path) -> dict[str, Any]:
    """Scan a directory with the built-in checks and slipway's custom policies; the parsed
    JSON report of the terraform framework."""
    if not CHECKOV.is_file():
        pytest.fail(
            f"checkov not found at {CHECKOV}: run `make setup` "
            "(it installs checkov into .tools/checkov)"
        )
    command = [
        str(CHECKOV),
        "--directory",
        str(directory),
        "--framework",
        "terraform",
        "--external-checks-dir",
        str(POLICIES_DIR),
        "--output",
        "json",
        "--compact",
        "--skip-download",
        "--soft-fail",
    ]
    env = {**os.environ, "LOG_LEVEL": "WARNING", "BC_SKIP_MAPPING": "TRUE"}
    proc = subprocess.run(
        command, capture_output=True, text=True, timeout=300, cwd=REPO_ROOT, env=env, check=False
    )
    if proc.returncode != 0:
        pytest.fail(f"checkov exited {proc.returncode}:\n{proc.stderr[-4000:]}")
    try:
        parsed = json.loads(proc.stdout)
    except json.JSONDecodeError:
        pytest.fail(
            f"checkov printed no JSON report:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
        )
    reports = parsed if isinstance(parsed, list) else [parsed]
    for report in reports:
        if report.get("check_type") == "terraform":
            report["stderr"] = proc.stderr
            return dict(report)
    pytest.fail(f"checkov returned no terraform report for {directory}")


@pytest.fixture(scope="session")
def checkov_report() -> dict[str, Any]:
    """checkov over terraform/: the real modules and roots."""
    return run_checkov(TERRAFORM_DIR)


@pytest.fixture(scope="session")
def checkov_fixture_report() -> dict[str, Any]:
    """checkov over the negative fixtures (tests/terraform/fixtures/checkov)."""
    return run_checkov(FIXTURES_DIR / "checkov")
