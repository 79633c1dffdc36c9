"""Fixtures of the chart tests: every chart profile rendered once, checkov run once."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHARTS = REPO / "charts"
FIXTURES = Path(__file__).parent / "fixtures"
NAMESPACES = {
    "mlflow": "mlflow",
    "model-serving": "model-serving",
    "ml-workflows": "ml-workflows",
    "platform-monitoring": "monitoring",
}
PROFILES = sorted(
    (chart.parent.parent.name, chart.name.removesuffix("-values.yaml"))
    for chart in CHARTS.glob("*/ci/*-values.yaml")
)


def tool(name: str, *candidates: Path) -> str:
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which(name)
    if not found:
        pytest.fail(f"{name} not found (run `make setup`)")
    return found


def helm() -> str:
    return tool("helm", REPO / ".tools" / "bin" / "helm")


def run(args: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, check=False, **kwargs)


def load_all(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


@dataclass(frozen=True)
class Rendered:
    chart: str
    profile: str
    namespace: str
    text: str
    objects: list[dict[str, Any]]

    @property
    def name(self) -> str:
        return f"{self.chart}/{self.profile}"

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o["kind"] == kind]

    def one(self, kind: str, name: str | None = None) -> dict[str, Any]:
        found = [o for o in self.of_kind(kind) if name is None or o["metadata"]["name"] == name]
        assert len(found) == 1, f"{self.name}: expected one {kind} {name or ''}, got {len(found)}"
        return found[0]


def render(chart: Path, namespace: str, *value_files: Path) -> subprocess.CompletedProcess[str]:
    args = [helm(), "template", chart.name, str(chart), "--namespace", namespace]
    for values in value_files:
        args += ["--values", str(values)]
    return run(args)


@pytest.fixture(scope="session")
def rendered() -> dict[tuple[str, str], Rendered]:
    """Every chart rendered with every ci/*-values.yaml profile, once per session."""
    out = {}
    for chart, profile in PROFILES:
        namespace = NAMESPACES[chart]
        result = render(CHARTS / chart, namespace, CHARTS / chart / "ci" / f"{profile}-values.yaml")
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
