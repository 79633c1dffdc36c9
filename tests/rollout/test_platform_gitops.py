"""The promotion record from a workflow pod: the canary step's settings come from the
ml-workflows chart's ``slipway-platform`` ConfigMap (rendered here with helm), not from the
packaged demo config, and a pod that cannot record a promotion says so and what to set."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from slipway.config import load_settings, step_environment
from slipway.errors import GitOpsError
from slipway.registry.model_version import ModelVersion
from slipway.rollout.gitops import GitOpsRecorder

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "charts"))
from chart_render import CHARTS, build_charts, load_all, render

PROMOTED = ModelVersion("churn-classifier", "10", "run-abc", "s3://bucket/models/churn/10")


@pytest.fixture(scope="module")
def chart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_charts(tmp_path_factory.mktemp("charts")) / "ml-workflows"


def _platform(chart: Path, *values: Path) -> dict[str, str]:
    result = render(chart, "ml-workflows", *values)
    assert result.returncode == 0, result.stderr
    found = [
        o
        for o in load_all(result.stdout)
        if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "slipway-platform"
    ]
    assert len(found) == 1
    data: dict[str, str] = found[0]["data"]
    return data


def test_the_pod_gets_the_repository_target_and_token_secret(chart: Path) -> None:
    env = _platform(chart, CHARTS / "ml-workflows" / "ci" / "production-values.yaml")
    with step_environment(env):
        gitops = load_settings(None).rollout.gitops
    # The packaged demo config says: a local commit in `.`, environment dev. The pod's:
    assert gitops.github_repo == "example-org/slipway"
    assert gitops.effective_target == "pull_request"
    assert gitops.environment == "prod"
    assert gitops.base_branch == "main"
    assert gitops.token_secret == "git-token"
    assert gitops.github_token_env == "GITHUB_TOKEN"
    assert load_settings(None).rollout.gitops.github_repo is None  # outside the step: demo


def test_without_a_repository_the_pod_fails_loudly(
    chart: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env: dict[str, Any] = _platform(chart, CHARTS / "ml-workflows" / "ci" / "minimal-values.yaml")
    assert "SLIPWAY_ROLLOUT__GITOPS__GITHUB_REPO" not in env
    monkeypatch.chdir(tmp_path)  # a pod's working folder: no checkout
    with step_environment(env):
        gitops = load_settings(None).rollout.gitops
    with pytest.raises(GitOpsError, match=r"not a git checkout.*gitops\.githubRepo"):
        GitOpsRecorder(gitops).record(PROMOTED, "passed")
