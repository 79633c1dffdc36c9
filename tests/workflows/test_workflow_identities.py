"""Each step runs as the MLflow user it needs, by the names the ml-workflows chart creates:
the rollout's user (it moves `champion`) and the ml-rollout ServiceAccount only on the canary,
the pipeline's user everywhere else. Checked on the rendered YAML that Argo CD applies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from slipway.workflow import render
from slipway.workflow.templates import common

TEMPLATE = "slipway-train-and-promote.yaml"


def _scripts(repo_root: Path, name: str) -> dict[str, dict[str, Any]]:
    obj = yaml.safe_load((repo_root / render.RENDERED_DIR / name).read_text(encoding="utf-8"))
    spec = obj["spec"].get("workflowSpec", obj["spec"])  # a CronWorkflow wraps its spec
    return {t["name"]: t for t in spec["templates"] if "script" in t}


def _secrets(template: dict[str, Any]) -> list[str]:
    return [
        s["secretRef"]["name"] for s in template["script"].get("envFrom", []) if "secretRef" in s
    ]


def test_the_chart_creates_the_secrets_and_account_the_steps_name(repo_root: Path) -> None:
    values = yaml.safe_load((repo_root / "charts/ml-workflows/values.yaml").read_text())
    credentials = values["mlflowCredentials"]
    assert credentials["enabled"] is True
    assert credentials["pipeline"]["targetName"] == common.PIPELINE_CREDENTIALS
    assert credentials["rollout"]["targetName"] == common.ROLLOUT_CREDENTIALS
    assert values["rolloutServiceAccount"]["name"] == common.ROLLOUT_SERVICE_ACCOUNT


@pytest.mark.parametrize("name", [TEMPLATE, "slipway-drift-monitor.yaml"])
def test_only_the_canary_carries_the_rollouts_mlflow_user(repo_root: Path, name: str) -> None:
    scripts = _scripts(repo_root, name)
    assert scripts
    for template_name, template in scripts.items():
        expected = (
            common.ROLLOUT_CREDENTIALS if template_name == "canary" else common.PIPELINE_CREDENTIALS
        )
        assert _secrets(template) == [expected], template_name


def test_the_canary_and_exit_handler_run_as_the_rollout_account(repo_root: Path) -> None:
    scripts = _scripts(repo_root, TEMPLATE)
    accounts = {n: t.get("serviceAccountName") for n, t in scripts.items()}
    assert accounts.pop("canary") == common.ROLLOUT_SERVICE_ACCOUNT
    assert accounts.pop("on-exit") == common.ROLLOUT_SERVICE_ACCOUNT
    assert set(accounts.values()) == {None}, accounts  # the workflow's own account
