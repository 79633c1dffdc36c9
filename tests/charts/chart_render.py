"""Rendering our charts with helm, shared by the chart and Argo CD tests."""

from __future__ import annotations

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
