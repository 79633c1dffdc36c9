"""Fixtures of the chart tests: charts built and every profile rendered once, checkov run once."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from chart_render import (
    CHARTS,
    FIXTURES,
    NAMESPACES,
    PROFILES,
    REPO,
    Rendered,
    build_charts,
    load_all,
    render,
    run,
    tool,
)


@pytest.fixture(scope="session")
def built_charts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clean copy of charts/ with the dependencies built, once per session."""
    return build_charts(tmp_path_factory.mktemp("built"))


@pytest.fixture(scope="session")
def rendered(built_charts: Path) -> dict[tuple[str, str], Rendered]:
    """Every chart rendered with every ci/*-values.yaml profile, once per session."""
    out = {}
    for chart, profile in PROFILES:
        namespace = NAMESPACES[chart]
        values = CHARTS / chart / "ci" / f"{profile}-values.yaml"
        result = render(built_charts / chart, namespace, values)
        assert result.returncode == 0, f"helm template {chart} ({profile}):\n{result.stderr}"
        out[chart, profile] = Rendered(
            chart, profile, namespace, result.stdout, load_all(result.stdout)
        )
    return out


@pytest.fixture(scope="session")
def all_rendered(rendered: dict[tuple[str, str], Rendered]) -> list[Rendered]:
    return list(rendered.values())


@pytest.fixture(scope="session")
def checkov_results(
    rendered: dict[tuple[str, str], Rendered], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, list[dict[str, Any]]]:
    """checkov once over every rendered profile and the insecure fixture, split by origin."""
    checkov = tool("checkov", REPO / ".tools" / "checkov" / "bin" / "checkov")
    root = tmp_path_factory.mktemp("checkov")
    (root / "rendered").mkdir()
    (root / "negative").mkdir()
    for item in rendered.values():
        (root / "rendered" / f"{item.chart}-{item.profile}.yaml").write_text(item.text)
    shutil.copy(FIXTURES / "insecure-deployment.yaml", root / "negative")
    args = [checkov, "-d", str(root), "--framework", "kubernetes", "-o", "json", "--skip-download"]
    result = run(args, env={**os.environ, "LOG_LEVEL": "ERROR"})
    assert result.stdout.strip(), f"checkov printed nothing:\n{result.stderr[-2000:]}"
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    out: dict[str, list[dict[str, Any]]] = {
        "rendered_failed": [],
        "rendered_passed": [],
        "rendered_skipped": [],
        "negative_failed": [],
    }
    for part in reports:
        results = part.get("results", {})
        for state in ("failed", "passed", "skipped"):
            for check in results.get(f"{state}_checks", []):
                origin = "negative" if "/negative/" in check["file_path"] else "rendered"
                out.setdefault(f"{origin}_{state}", []).append(check)
    return out
