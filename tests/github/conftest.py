"""Fixtures of the GitHub workflow tests: checkov's github_actions framework, run once per
session over a copy of the repository's .github folder and the negative fixtures side by
side (one checkov start instead of two), its report split back by origin."""

from __future__ import annotations

import shutil
from typing import Any

import pytest
from gha_tools import FIXTURES, GITHUB_DIR, run_checkov


def _only(report: dict[str, Any], prefix: str) -> dict[str, Any]:
    results = {
        kind: [
            {**c, "file_path": c["file_path"].removeprefix(prefix)}
            for c in checks
            if c["file_path"].startswith(prefix + "/")
        ]
        for kind, checks in report["results"].items()
        if isinstance(checks, list)
    }
    return {**report, "results": results}


@pytest.fixture(scope="session")
def checkov_both(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("checkov")
    shutil.copytree(GITHUB_DIR, root / "repo" / ".github")
    shutil.copytree(FIXTURES / "checkov" / ".github", root / "fixtures" / ".github")
    return run_checkov(root)


@pytest.fixture(scope="session")
def checkov_repo(checkov_both: dict[str, Any]) -> dict[str, Any]:
    """checkov's report on the repository's .github folder (paths like /.github/workflows/x)."""
    return _only(checkov_both, "/repo")


@pytest.fixture(scope="session")
def checkov_fixtures(checkov_both: dict[str, Any]) -> dict[str, Any]:
    """checkov's report on the negative fixtures (tests/github/fixtures/checkov/.github)."""
    return _only(checkov_both, "/fixtures")
