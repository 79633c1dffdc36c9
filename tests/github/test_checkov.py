"""checkov's github_actions framework over .github: zero unsuppressed findings, every
workflow really scanned, every suppression with its reason. The negative fixtures under
fixtures/checkov/.github prove each of the three can fail."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from gha_tools import FIXTURES, GITHUB_DIR

SKIP = re.compile(r"checkov:skip=(?P<id>[A-Z0-9_]+)(?P<reason>:[^\n]*)?")


def failed(report: dict[str, Any]) -> list[tuple[str, str]]:
    return sorted((c["check_id"], c["file_path"]) for c in report["results"]["failed_checks"])


def unscanned(report: dict[str, Any], root: Path) -> list[str]:
    """Workflow files under ``root`` that no check of the report ran on. checkov drops a file
    that fails its bundled workflow schema without a word (no parsing error either), so a
    clean report alone proves nothing about such a file."""
    results = report["results"]
    seen = {
        c["file_path"]
        for kind in ("passed_checks", "failed_checks", "skipped_checks")
        for c in results.get(kind, [])
    }
    workflows = sorted(root.glob(".github/workflows/*.y*ml"))
    return [str(p.relative_to(root)) for p in workflows if f"/{p.relative_to(root)}" not in seen]


def suppressions_without_reason(root: Path) -> list[str]:
    out = []
    for path in sorted(root.rglob("*.y*ml")):
        for n, line in enumerate(path.read_text().splitlines(), start=1):
            for m in SKIP.finditer(line):
                if not (m.group("reason") or ":").lstrip(":").strip():
                    out.append(f"{path.relative_to(root)}:{n}: {m.group('id')}")
    return out


def test_no_unsuppressed_findings(checkov_repo: dict[str, Any]) -> None:
    assert failed(checkov_repo) == []


def test_every_workflow_is_scanned(checkov_repo: dict[str, Any]) -> None:
    assert len(list((GITHUB_DIR / "workflows").glob("*.yml"))) >= 4
    assert unscanned(checkov_repo, GITHUB_DIR.parent) == []


def test_every_suppression_gives_its_reason() -> None:
    assert suppressions_without_reason(GITHUB_DIR) == []


def test_the_negative_fixtures_fail(checkov_fixtures: dict[str, Any]) -> None:
    root = FIXTURES / "checkov"
    assert failed(checkov_fixtures) == [
        ("CKV2_GHA_1", "/.github/workflows/write-all.yml"),
        ("CKV_GHA_2", "/.github/workflows/shell-injection.yml"),
    ]
    assert unscanned(checkov_fixtures, root) == [".github/workflows/outside-schema.yml"]
    assert suppressions_without_reason(root) == [
        ".github/workflows/skip-without-reason.yml:12: CKV_GHA_3"
    ]
