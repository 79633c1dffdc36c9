"""Checks of the alert rules and their runbooks, as pure functions over parsed rule files and
a folder of pages: each returns the problems it found (empty: all good), so that the tests can
also show that each check fails on a bad fixture."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "charts/platform-monitoring/files/rules"
RUNBOOKS = REPO / "docs/runbooks"
PROMTOOL_TESTS = Path(__file__).resolve().parent / "rules"
RUNBOOK_BASE = "https://github.com/slipway-ml/slipway/blob/main/docs/runbooks/"
SEVERITIES = {"critical", "warning"}
#: The sections every runbook has, in this order.
SECTIONS = ("## What it means", "## Confirm", "## Mitigate", "## Escalate")


def load_groups(path: Path) -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]
    return groups


def alerts(groups: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for group in groups:
        for rule in group["rules"]:
            if "alert" in rule:
                yield rule


def alert_problems(groups: Iterable[dict[str, Any]]) -> list[str]:
    """Every alert: a severity slipway pages or tickets on, a summary, a description and a
    runbook_url naming its own page."""
    problems = []
    for rule in alerts(groups):
        name = rule["alert"]
        severity = rule.get("labels", {}).get("severity")
        if severity not in SEVERITIES:
            problems.append(f"{name}: severity {severity!r} is not one of {sorted(SEVERITIES)}")
        notes = rule.get("annotations", {})
        for key in ("summary", "description", "runbook_url"):
            if not str(notes.get(key, "")).strip():
                problems.append(f"{name}: no {key} annotation")
        url = notes.get("runbook_url")
        if url and url != f"{RUNBOOK_BASE}{name}.md":
            problems.append(f"{name}: runbook_url {url} is not {RUNBOOK_BASE}{name}.md")
    return problems


def runbook_problems(runbook_urls: dict[str, str], folder: Path) -> list[str]:
    """Each alert's runbook_url has its page (with every section), and each page in the
    folder (but the README index) belongs to an alert."""
    problems = []
    pages = {p.stem: p for p in folder.glob("*.md") if p.name != "README.md"}
    for name, url in sorted(runbook_urls.items()):
        page = pages.get(url.removeprefix(RUNBOOK_BASE).removesuffix(".md"))
        if page is None:
            problems.append(f"{name}: no page for {url} in {folder}")
            continue
        text = page.read_text(encoding="utf-8")
        if not text.startswith(f"# {name}\n"):
            problems.append(f"{page.name}: does not start with '# {name}'")
        found = [s for s in SECTIONS if re.search(f"^{re.escape(s)}$", text, re.M)]
        if found != list(SECTIONS):
            problems.append(f"{page.name}: sections {found}, wanted {list(SECTIONS)}")
    for stem in sorted(set(pages) - {u.removeprefix(RUNBOOK_BASE).removesuffix(".md")
                                      for u in runbook_urls.values()}):  # fmt: skip
        problems.append(f"{pages[stem].name}: no alert has this runbook")
    return problems


def tested_alerts(test_files: Iterable[Path]) -> tuple[set[str], set[str]]:
    """(alerts some promtool case expects firing, alerts some case expects quiet)."""
    firing: set[str] = set()
    quiet: set[str] = set()
    for path in test_files:
        for case in yaml.safe_load(path.read_text(encoding="utf-8"))["tests"]:
            for check in case.get("alert_rule_test", []):
                (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    return firing, quiet
