"""slipway's own rules for GitHub workflows, the ones actionlint and checkov do not enforce.

- ``pinned-sha``: every ``uses:`` names a full 40-hex commit SHA followed by a ``# vX.Y.Z``
  comment (local ``./`` actions excepted; ``docker://`` images by ``@sha256:`` digest);
- ``top-permissions``: the workflow sets top-level ``permissions``, and only ``read``/``none``;
- ``no-pull-request-target``: no ``pull_request_target`` trigger (it runs untrusted code with
  the base repository's token and secrets);
- ``no-event-in-run``: no ``${{ github.event...`` or ``${{ github.head_ref`` inside a ``run:``
  script, where it would be pasted into the shell; such values go through ``env:``;
- ``concurrency``: a top-level concurrency group, so that two runs of one ref never race.

Composite actions (``action.yml``) get the ``pinned-sha`` and ``no-event-in-run`` rules.
A file that is not valid YAML is one ``yaml`` finding with the parser's line and column.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

SHA_PIN = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+(/[^@\s]+)?@[0-9a-f]{40}$")
VERSION_COMMENT = re.compile(r"#\s*v\d+(\.\d+)*\S*\s*$")
DOCKER_PIN = re.compile(r"^docker://[^@\s]+@sha256:[0-9a-f]{64}$")
UNTRUSTED_IN_RUN = re.compile(r"\$\{\{\s*github\.(event\b|head_ref\b)")
READ_ONLY = {"read", "none"}


@dataclass(frozen=True)
class Finding:
    path: Path
    line: int
    column: int
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}: {self.message} [{self.rule}]"


def _position(node: Any, key: Any) -> tuple[int, int]:
    """1-based line and column of ``key``'s value in a ruamel mapping or sequence."""
    try:
        if isinstance(node, CommentedMap):
            line, col = node.lc.value(key)
        elif isinstance(node, CommentedSeq):
            line, col = node.lc.item(key)
        else:
            return 1, 1
    except (KeyError, IndexError, TypeError):
        return 1, 1
    return line + 1, col + 1


def _steps(doc: CommentedMap, composite: bool) -> Iterator[CommentedMap]:
    if composite:
        runs = doc.get("runs")
        holders = [runs] if isinstance(runs, CommentedMap) else []
    else:
        jobs = doc.get("jobs")
        holders = list(jobs.values()) if isinstance(jobs, CommentedMap) else []
    for holder in holders:
        if not isinstance(holder, CommentedMap):
            continue
        steps = holder.get("steps")
        for step in steps if isinstance(steps, CommentedSeq) else []:
            if isinstance(step, CommentedMap):
                yield step


def _uses_entries(doc: CommentedMap, composite: bool) -> Iterator[tuple[CommentedMap, str]]:
    for step in _steps(doc, composite):
        if isinstance(step.get("uses"), str):
            yield step, step["uses"]
    jobs = doc.get("jobs")
    if not composite and isinstance(jobs, CommentedMap):
        # A job that calls a reusable workflow has `uses:` on the job itself.
        for job in jobs.values():
            if isinstance(job, CommentedMap) and isinstance(job.get("uses"), str):
                yield job, job["uses"]


def _check_pins(path: Path, doc: CommentedMap, lines: list[str], composite: bool) -> list[Finding]:
    findings = []
    for holder, ref in _uses_entries(doc, composite):
        line, col = _position(holder, "uses")
        if ref.startswith("./"):
            continue
        if ref.startswith("docker://"):
            if not DOCKER_PIN.match(ref):
                findings.append(
                    Finding(path, line, col, "pinned-sha", f"{ref} is not pinned by @sha256 digest")
                )
            continue
        if not SHA_PIN.match(ref):
            findings.append(
                Finding(
                    path, line, col, "pinned-sha", f"{ref} is not pinned by a 40-hex commit SHA"
                )
            )
        elif not VERSION_COMMENT.search(lines[line - 1] if line <= len(lines) else ""):
            findings.append(
                Finding(path, line, col, "pinned-sha", f"{ref} has no `# vX.Y.Z` comment")
            )
    return findings


def _check_run_scripts(path: Path, doc: CommentedMap, composite: bool) -> list[Finding]:
    findings = []
    for step in _steps(doc, composite):
        script = step.get("run")
        if isinstance(script, str) and (match := UNTRUSTED_IN_RUN.search(script)):
            line, col = _position(step, "run")
            findings.append(
                Finding(
                    path,
                    line,
                    col,
                    "no-event-in-run",
                    f"`{match.group(0)}...` is interpolated into a run script; pass it via env",
                )
            )
    return findings


def _triggers(doc: CommentedMap) -> list[str]:
    on = doc.get("on")
    if isinstance(on, str):
        return [on]
    if isinstance(on, CommentedSeq):
        return [str(t) for t in on]
    if isinstance(on, CommentedMap):
        return [str(t) for t in on]
    return []


def _check_workflow_level(path: Path, doc: CommentedMap) -> list[Finding]:
    findings = []
    if "pull_request_target" in _triggers(doc):
        line, col = _position(doc, "on")
        findings.append(
            Finding(
                path,
                line,
                col,
                "no-pull-request-target",
                "pull_request_target runs with the base repository's token and secrets",
            )
        )
    if "permissions" not in doc:
        findings.append(
            Finding(path, 1, 1, "top-permissions", "no top-level permissions (the default is wide)")
        )
    else:
        perms = doc["permissions"]
        line, col = _position(doc, "permissions")
        if isinstance(perms, str):
            if perms != "read-all":
                findings.append(
                    Finding(path, line, col, "top-permissions", f"top-level permissions: {perms}")
                )
        elif isinstance(perms, CommentedMap):
            wide = sorted(f"{k}: {v}" for k, v in perms.items() if v not in READ_ONLY)
            if wide:
                findings.append(
                    Finding(
                        path,
                        line,
                        col,
                        "top-permissions",
                        "top-level permissions must be read-only; "
                        f"grant {', '.join(wide)} on the job that needs it",
                    )
                )
        else:
            findings.append(
                Finding(path, line, col, "top-permissions", "top-level permissions is not a map")
            )
    if "concurrency" not in doc:
        findings.append(Finding(path, 1, 1, "concurrency", "no top-level concurrency group"))
    return findings


def check_file(path: Path) -> list[Finding]:
    """Every finding of the rules above in one workflow or composite action file."""
    text = path.read_text(encoding="utf-8")
    try:
        doc = YAML(typ="rt").load(text)
    except MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        return [Finding(path, line, col, "yaml", f"not valid YAML: {err.problem or err}")]
    if not isinstance(doc, CommentedMap):
        return [Finding(path, 1, 1, "yaml", "not a YAML mapping")]
    composite = path.name in ("action.yml", "action.yaml")
    lines = text.splitlines()
    findings = _check_pins(path, doc, lines, composite)
    findings += _check_run_scripts(path, doc, composite)
    if not composite:
        findings += _check_workflow_level(path, doc)
    return sorted(findings, key=lambda f: (str(f.path), f.line, f.column, f.rule))


def github_files(github_dir: Path) -> list[Path]:
    """The workflows and composite actions under a ``.github`` folder."""
    workflows = sorted((github_dir / "workflows").glob("*.y*ml"))
    actions = sorted(github_dir.glob("actions/**/action.y*ml"))
    return workflows + actions
