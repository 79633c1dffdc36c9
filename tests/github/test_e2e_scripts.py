"""The scripts the workflows call (scripts/e2e/): bash in strict mode, executable, syntax
clean, shellcheck clean where shellcheck is installed; every script a workflow names exists.
Negative fixtures under fixtures/scripts/ prove each rule can fail."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from gha_tools import FIXTURES, GITHUB_DIR, REPO
from shell_policy import (
    run_script_findings,
    script_problems,
    scripts_named_in,
    shellcheck_findings,
)

E2E = REPO / "scripts" / "e2e"
BAD = FIXTURES / "scripts"


def e2e_scripts() -> list[Path]:
    return sorted(E2E.glob("*.sh"))


def test_every_e2e_script_is_strict_bash() -> None:
    scripts = e2e_scripts()
    assert len(scripts) >= 6
    assert [p for s in scripts for p in script_problems(s)] == []


@pytest.mark.parametrize(
    ("fixture", "problem"),
    [
        ("no-strict-mode.sh", "has no `set -euo pipefail` line"),
        ("syntax-error.sh", "bash -n: "),
        ("wrong-shebang.sh", "does not start with #!/usr/bin/env bash"),
        ("not-executable.sh", "is not executable"),
    ],
)
def test_each_negative_script_fails_on_its_rule(fixture: str, problem: str) -> None:
    (only,) = script_problems(BAD / fixture)
    assert only.startswith(f"{BAD / fixture}: {problem}")


def test_shellcheck_is_clean_on_the_e2e_scripts_and_catches_the_fixture() -> None:
    findings = shellcheck_findings(*e2e_scripts())
    if findings is None:
        pytest.skip("shellcheck is not installed (optional: apt-get install shellcheck)")
    assert findings == []
    bad = shellcheck_findings(BAD / "unquoted.sh")
    assert bad is not None and any("SC2086" in line for line in bad), bad


def test_every_script_a_workflow_runs_exists_and_is_executable() -> None:
    named = {
        s for w in sorted((GITHUB_DIR / "workflows").glob("*.yml")) for s in scripts_named_in(w)
    }
    assert {
        "scripts/e2e/install-platform.sh",
        "scripts/e2e/start-stand-ins.sh",
        "scripts/e2e/install-slipway.sh",
        "scripts/e2e/run-canary.sh",
        "scripts/e2e/collect-logs.sh",
    } <= named
    missing = [s for s in sorted(named) if not os.access(REPO / s, os.X_OK)]
    assert missing == []


def test_run_scripts_of_every_workflow_are_shellcheck_clean(tmp_path: Path) -> None:
    workflows = sorted((GITHUB_DIR / "workflows").glob("*.yml"))
    findings = [run_script_findings(w, tmp_path) for w in workflows]
    if findings[0] is None:
        pytest.skip("shellcheck is not installed (optional: apt-get install shellcheck)")
    assert [f for per in findings for f in per or []] == []
    bad = run_script_findings(BAD / "run-unquoted.yml", tmp_path)
    assert bad is not None and len(bad) == 1 and "SC2086" in bad[0], bad
    assert bad[0].startswith("run-unquoted.yml: jobs.test.steps[0]: ")
