"""What the e2e scripts install, checked offline: every upstream component they install has
its ApplicationSet (chart, pinned version), Argo CD's value files and a kind overlay; our
charts render with the kind overlays (helm template, their values schemas included) into
the images this run builds, the stand-in bucket and the champion's storage URI."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from gha_tools import REPO
from ruamel.yaml import YAML

E2E = REPO / "scripts" / "e2e"
HELM = REPO / ".tools" / "bin" / "helm"


def installed(function: str) -> list[str]:
    text = "\n".join(
        (E2E / name).read_text()
        for name in ("install-platform.sh", "run-canary.sh", "install-slipway.sh")
    )
    return re.findall(rf"^\s*{function} ([a-z0-9-]+)", text, re.MULTILINE)


def test_every_upstream_component_is_an_applicationset_with_a_pinned_chart() -> None:
    components = installed("install_upstream")
    assert components == [
        "kube-prometheus-stack",
        "cert-manager",
        "knative-operator",
        "kserve-crd",
        "argo-workflows",
        "kserve",
    ]
    yaml = YAML(typ="safe")
    for name in components:
        appset = yaml.load((REPO / "argocd" / "applications" / f"{name}.yaml").read_text())
        (chart,) = [s for s in appset["spec"]["template"]["spec"]["sources"] if "chart" in s]
        assert re.match(r"^v?\d+\.\d+\.\d+$", chart["targetRevision"]), name
        assert chart["helm"]["releaseName"], name
        for layer in ("default", "dev"):
            assert (REPO / "argocd" / "values" / layer / f"{name}.yaml").is_file(), (name, layer)
        assert (E2E / "values" / f"{name}.yaml").is_file(), name


def test_every_overlay_belongs_to_an_installed_component() -> None:
    components = set(installed("install_upstream")) | set(installed("install_own_chart"))
    assert {"ml-workflows", "model-serving"} <= components
    assert {p.stem for p in (E2E / "values").glob("*.yaml")} == components


def render(chart: str, *extra: str) -> list[dict[str, Any]]:
    if not HELM.is_file() and shutil.which("helm") is None:
        pytest.fail("helm not found: run `make setup` (it installs helm into .tools/bin)")
    helm = str(HELM) if HELM.is_file() else "helm"
    subprocess.run(
        [helm, "dependency", "build", str(REPO / "charts" / chart)],
        capture_output=True,
        check=True,
        timeout=120,
    )
    values = [
        f"--values={REPO / 'argocd' / 'values' / layer / f'{chart}.yaml'}"
        for layer in ("default", "dev")
    ]
    result = subprocess.run(
        [
            helm,
            "template",
            chart,
            str(REPO / "charts" / chart),
            f"--namespace={chart}",
            "--skip-tests",
            *values,
            f"--values={E2E / 'values' / f'{chart}.yaml'}",
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return [d for d in YAML(typ="safe").load_all(result.stdout) if d]


def images(docs: list[dict[str, Any]]) -> set[str]:
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "image" and isinstance(value, str):
                    found.add(value)
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(docs)
    return found


def test_the_workflows_chart_renders_with_the_images_of_the_run() -> None:
    docs = render("ml-workflows")
    assert images(docs) == {"ghcr.io/slipway-ml/slipway-trainer:e2e"}
    (platform,) = [
        d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "slipway-platform"
    ]
    assert platform["data"]["SLIPWAY_DATASETS_BUCKET"] == "slipway-datasets"
    assert platform["data"]["MLFLOW_TRACKING_URI"] == "http://mlflow.mlflow.svc.cluster.local:5000"
    assert {d["kind"] for d in docs} >= {
        "WorkflowTemplate",
        "CronWorkflow",
        "ServiceAccount",
        "Role",
    }
    assert not [d for d in docs if d["kind"] in ("ExternalSecret", "SecretStore")]


def test_the_serving_chart_renders_the_champion_with_the_predictor_of_the_run(
    tmp_path: Path,
) -> None:
    only_account = render("model-serving", "--set-json=models=[]")
    assert [d["kind"] for d in only_account] == ["ServiceAccount"]
    models = tmp_path / "models.yaml"
    uri = "s3://slipway-artifacts/mlflow/1/models/m-0123/artifacts"
    champion = {
        "name": "churn-classifier",
        "modelVersion": "1",
        "runId": "r1",
        "storageUri": uri,
        "canaryTrafficPercent": 0,
        "minReplicas": 1,
        "maxReplicas": 1,
    }
    with models.open("w") as out:
        YAML().dump({"models": [champion]}, out)
    docs = render("model-serving", f"--values={models}")
    (isvc,) = [d for d in docs if d["kind"] == "InferenceService"]
    assert isvc["metadata"]["annotations"]["slipway.io/model-version"] == "1"
    (container,) = isvc["spec"]["predictor"]["containers"]
    assert container["image"] == "ghcr.io/slipway-ml/slipway-predictor:e2e"
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert {"name": "STORAGE_URI", "value": uri} in container["env"]


def submitted_workflow(tmp_path: Path, data: str) -> dict[str, Any]:
    """The Workflow run-training.sh submits, printed by its --print mode (no cluster)."""
    if shutil.which("jq") is None:
        pytest.fail("jq is not on PATH (the e2e scripts build JSON with it)")
    result = subprocess.run(
        ["bash", str(E2E / "run-training.sh"), "--print", data],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": os.environ["PATH"], "E2E_STATE": str(tmp_path)},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    doc: dict[str, Any] = YAML(typ="safe").load(result.stdout)
    return doc


def test_the_submitted_workflow_is_valid_for_argo_and_names_the_template(
    tmp_path: Path, crd_schema_dir: Path
) -> None:
    from slipway.kube.manifests import validate_manifest

    workflow = submitted_workflow(tmp_path, "s3://slipway-datasets/churn/train-1.csv")
    assert validate_manifest(workflow, crd_schema_dir) == []
    template = YAML(typ="safe").load(
        (REPO / "charts/ml-workflows/files/workflows/slipway-train-and-promote.yaml").read_text()
    )
    assert workflow["spec"]["workflowTemplateRef"]["name"] == template["metadata"]["name"]
    declared = {p["name"] for p in template["spec"]["arguments"]["parameters"]}
    given = {p["name"]: p["value"] for p in workflow["spec"]["arguments"]["parameters"]}
    assert set(given) <= declared
    assert given == {"data": "s3://slipway-datasets/churn/train-1.csv", "gpus": "1"}
    # Every script template's container is `main`, the one the podSpecPatch adds to.
    (patched,) = json.loads(workflow["spec"]["podSpecPatch"])["containers"]
    assert patched["name"] == "main"


def e2e_settings_environment(tmp_path: Path) -> dict[str, str]:
    workflow = submitted_workflow(tmp_path, "s3://slipway-datasets/churn/train-1.csv")
    (patched,) = json.loads(workflow["spec"]["podSpecPatch"])["containers"]
    return {e["name"]: e["value"] for e in patched["env"] if e["name"].startswith("SLIPWAY_")}


def test_the_e2e_settings_are_settings_slipway_accepts(tmp_path: Path) -> None:
    from slipway.config import load_settings, step_environment

    with step_environment(e2e_settings_environment(tmp_path)):
        settings = load_settings()
    assert settings.gate.champion_margin == 1
    assert settings.rollout.steps == [50, 100]
    assert settings.rollout.window_seconds == 60
    assert settings.rollout.min_requests == 20
    assert settings.rollout.gitops.enabled is False
    assert settings.tracking.artifacts_destination == "s3://slipway-artifacts/mlflow"


def test_a_setting_slipway_refuses_fails_the_check(tmp_path: Path) -> None:
    from slipway.config import load_settings, step_environment
    from slipway.errors import ConfigError

    wrong = {**e2e_settings_environment(tmp_path), "SLIPWAY_GATE__CHAMPION_MARGIN": "-1"}
    with step_environment(wrong), pytest.raises(ConfigError, match=r"gate\.champion_margin"):
        load_settings()


def pod_scripts() -> dict[str, str]:
    """The Python that run-canary.sh runs in one-off pods of the trainer image, by pod name,
    with the shell's variables filled in as the script fills them."""
    text = (E2E / "run-canary.sh").read_text()
    found = re.findall(r'run_pod (e2e-[a-z-]+) \d+ "\n(.*?)\n"', text, re.DOTALL)
    values = {"$isvc": "churn-classifier", "$url": "http://churn-classifier.example"}
    scripts = {}
    for name, body in found:
        for var, value in values.items():
            body = body.replace(var, value)
        assert "$" not in body, f"{name}: an unfilled shell variable"
        scripts[name] = body
    return scripts


def test_the_pod_scripts_use_slipways_api_as_it_is() -> None:
    import ast
    import importlib
    import inspect

    scripts = pod_scripts()
    assert set(scripts) == {"e2e-resolve-champion", "e2e-traffic", "e2e-predict"}
    for name, body in scripts.items():
        tree = ast.parse(body, filename=name)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("slipway"):
                module = importlib.import_module(node.module or "")
                for alias in node.names:
                    if not hasattr(module, alias.name):  # a submodule: importable on its own
                        importlib.import_module(f"{node.module}.{alias.name}")
        assert "E2E-RESULT" in body, f"{name} prints no result line"
    from slipway.rollout.demo_traffic import DemoTraffic
    from slipway.rollout.model_registry import target_for

    inspect.signature(target_for).bind(
        object(), "churn-classifier", "1", None, artifacts_destination="s3://b/p"
    )
    inspect.signature(DemoTraffic).bind("http://churn-classifier.example", "churn-classifier", 5.0)
