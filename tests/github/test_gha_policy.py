"""slipway's own workflow rules (tests/github/gha_policy.py): the real .github files pass,
and each negative fixture fails on exactly the rule it breaks, at the line that breaks it."""

from __future__ import annotations

from pathlib import Path

import pytest
from gha_policy import check_file, github_files
from gha_tools import FIXTURES, GITHUB_DIR

POLICY = FIXTURES / "policy"


def test_repository_workflows_follow_the_policy() -> None:
    files = github_files(GITHUB_DIR)
    names = {p.name for p in files}
    assert {"ci.yml", "terraform.yml", "images.yml", "e2e.yml"} <= names
    findings = [str(f) for path in files for f in check_file(path)]
    assert findings == []


def test_the_baseline_fixture_passes() -> None:
    assert check_file(POLICY / "good.yml") == []


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("unpinned-action.yml", [("pinned-sha", 12), ("pinned-sha", 13)]),
        ("sha-without-version.yml", [("pinned-sha", 12)]),
        ("docker-by-tag.yml", [("pinned-sha", 12)]),
        ("no-permissions.yml", [("top-permissions", 1)]),
        ("write-permissions.yml", [("top-permissions", 5)]),
        ("write-all.yml", [("top-permissions", 4)]),
        ("pull-request-target.yml", [("no-pull-request-target", 4)]),
        ("event-in-run.yml", [("no-event-in-run", 12), ("no-event-in-run", 13)]),
        ("no-concurrency.yml", [("concurrency", 1)]),
        ("broken-yaml.yml", [("yaml", 7)]),
        ("actions/unpinned/action.yml", [("pinned-sha", 7), ("no-event-in-run", 9)]),
    ],
)
def test_each_negative_fixture_fails_on_its_rule(
    fixture: str, expected: list[tuple[str, int]]
) -> None:
    findings = check_file(POLICY / fixture)
    assert [(f.rule, f.line) for f in findings] == expected, [str(f) for f in findings]


def test_findings_name_the_file_and_what_is_wrong() -> None:
    (first, second) = check_file(POLICY / "unpinned-action.yml")
    assert str(first).startswith(f"{POLICY / 'unpinned-action.yml'}:12:")
    assert "actions/checkout@v7 is not pinned by a 40-hex commit SHA" in str(first)
    assert "actions/setup-python@5fda3b9" in second.message
    (wide,) = check_file(POLICY / "write-permissions.yml")
    assert "packages: write" in wide.message


def test_composite_actions_are_found(tmp_path: Path) -> None:
    action = tmp_path / "actions" / "setup" / "action.yml"
    action.parent.mkdir(parents=True)
    action.write_text((POLICY / "actions" / "unpinned" / "action.yml").read_text())
    (tmp_path / "workflows").mkdir()
    (tmp_path / "workflows" / "w.yml").write_text((POLICY / "good.yml").read_text())
    assert github_files(tmp_path) == [tmp_path / "workflows" / "w.yml", action]
