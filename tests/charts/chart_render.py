"""Rendering our charts with helm, shared by the chart and Argo CD tests.

Every chart depends on the slipway-common library chart (a file:// dependency), so helm
needs `helm dependency build` before it renders or lints one: the tests build a clean copy
of charts/ once per session (`build_charts`) and render that.
"""

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


def offline_helm_env(home: Path) -> dict[str, str]:
    """An empty helm home (no repositories, no cache): what a fresh Argo CD repo-server has,
    and proof that building our charts needs no network."""
    env = dict(os.environ)
    for name in ("HELM_CONFIG_HOME", "HELM_CACHE_HOME", "HELM_DATA_HOME"):
        env[name] = str(home / name.lower())
    env["HELM_REPOSITORY_CONFIG"] = str(home / "repositories.yaml")
    env["HELM_REPOSITORY_CACHE"] = str(home / "repository-cache")
    env["HELM_REGISTRY_CONFIG"] = str(home / "registry.json")
    return env


def copy_charts(dest: Path) -> Path:
    """A copy of charts/ without the dependencies a local `helm dependency build` left in
    charts/<chart>/charts/ (build output, not in git): what a clean clone holds."""
    target = dest / "charts"

    def build_output(folder: str, names: list[str]) -> list[str]:
        return ["charts"] if Path(folder).parent == CHARTS else []

    shutil.copytree(CHARTS, target, ignore=build_output)
    return target


def dependency_build(chart: Path, helm_home: Path) -> subprocess.CompletedProcess[str]:
    """`helm dependency build`, as Argo CD runs it for a chart in git, with an empty helm home."""
    return run([helm(), "dependency", "build", str(chart)], env=offline_helm_env(helm_home))


def build_charts(dest: Path) -> Path:
    """A clean copy of charts/ with every chart's dependencies built (the slipway-common
    library, from file://../slipway-common), ready for helm template and helm lint. Built
    afresh, so that a stale package left in the source tree cannot hide a change."""
    charts = copy_charts(dest)
    for chart_yaml in sorted(charts.glob("*/Chart.yaml")):
        if yaml.safe_load(chart_yaml.read_text()).get("dependencies"):
            result = dependency_build(chart_yaml.parent, dest / "helm-home")
            if result.returncode != 0:
                pytest.fail(f"helm dependency build {chart_yaml.parent.name}:\n{result.stderr}")
    return charts


def render(chart: Path, namespace: str, *value_files: Path) -> subprocess.CompletedProcess[str]:
    args = [helm(), "template", chart.name, str(chart), "--namespace", namespace]
    for values in value_files:
        args += ["--values", str(values)]
    return run(args)
