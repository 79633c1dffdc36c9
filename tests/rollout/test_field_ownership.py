"""Argo CD and the rollout never fight over the InferenceService.

Neither a Kubernetes API server nor Argo CD can run here: the patches go through the real
``kubernetes`` client to the repo's fake API (fakes.FakeKubernetes, which records each
PATCH's content type, fieldManager and force), and the model-serving ApplicationSet is read
from argocd/applications as Argo CD would get it. The test proves that every write of a
canary, a promotion and a rollback is a server-side apply under the rollout's field manager,
that the Application ignores that manager's fields on InferenceServices and respects that on
sync, and that after promotion the values file the GitOps record writes names the model the
live object serves.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s
from ruamel.yaml import YAML

from slipway.rollout.backends.kserve import FIELD_MANAGER, KServeBackend, model_of
from slipway.rollout.gitops import serving_model, set_serving_model

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fakes import FakeKubernetes
from test_kserve_backend import CANARY, CHAMPION, NAME, NS, custom_container_isvc

ROOT = Path(__file__).resolve().parents[2]
APPSET = ROOT / "argocd" / "applications" / "model-serving.yaml"
VALUES = ROOT / "argocd" / "values" / "dev" / "model-serving.yaml"


def application_spec(doc: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = doc["spec"]
    return spec["template"]["spec"] if doc["kind"] == "ApplicationSet" else spec


def ownership_problems(doc: dict[str, Any], manager: str) -> list[str]:
    """What keeps Argo CD from leaving ``manager``'s InferenceService fields alone."""
    spec = application_spec(doc)
    problems = []
    entries = [
        e
        for e in spec.get("ignoreDifferences") or []
        if e.get("group") == "serving.kserve.io" and e.get("kind") == "InferenceService"
    ]
    if not any(manager in (e.get("managedFieldsManagers") or []) for e in entries):
        problems.append(f"no ignoreDifferences managedFieldsManagers entry for {manager}")
    options = (spec.get("syncPolicy") or {}).get("syncOptions") or []
    if "RespectIgnoreDifferences=true" not in options:
        problems.append("syncOptions lack RespectIgnoreDifferences=true")
    if "ServerSideApply=true" not in options:
        problems.append("syncOptions lack ServerSideApply=true (managed fields need it)")
    return problems


@pytest.fixture(scope="module")
def appset() -> dict[str, Any]:
    doc: dict[str, Any] = YAML(typ="safe").load(APPSET.read_text())
    return doc


def run_rollout(rollback: bool) -> tuple[FakeKubernetes, KServeBackend]:
    api = FakeKubernetes()
    with api.serving() as url:
        backend = KServeBackend(
            NAME, NS, api_client=k8s.ApiClient(k8s.Configuration(host=url)),
            ready_timeout=5, poll_interval=0.01,
        )  # fmt: skip
        backend.create(custom_container_isvc())
        backend.deploy_canary(CANARY, CHAMPION, 10)
        backend.set_canary_traffic(50)
        if rollback:
            backend.rollback()
        else:
            backend.promote()
        return api, backend


def test_every_rollout_write_is_an_apply_under_its_field_manager() -> None:
    for rollback in (False, True):
        api, _ = run_rollout(rollback)
        assert len(api.patches) >= 3
        for patch in api.patches:
            assert patch["content_type"] == "application/apply-patch+yaml"
            assert patch["field_manager"] == FIELD_MANAGER
            assert patch["force"] is True
            assert patch["body"]["kind"] == "InferenceService"


def test_the_application_ignores_the_rollout_managers_fields(appset: dict[str, Any]) -> None:
    assert ownership_problems(appset, FIELD_MANAGER) == []


def test_the_check_fails_without_the_managed_fields_entry(appset: dict[str, Any]) -> None:
    broken = copy.deepcopy(appset)
    for entry in application_spec(broken)["ignoreDifferences"]:
        entry.pop("managedFieldsManagers", None)
    assert ownership_problems(broken, FIELD_MANAGER) == [
        f"no ignoreDifferences managedFieldsManagers entry for {FIELD_MANAGER}"
    ]
    application_spec(broken)["syncPolicy"]["syncOptions"] = ["ServerSideApply=true"]
    assert "syncOptions lack RespectIgnoreDifferences=true" in ownership_problems(
        broken, FIELD_MANAGER
    )


def test_after_promotion_git_and_the_live_object_agree() -> None:
    api, _ = run_rollout(rollback=False)
    live = api.objects[(NS, NAME)]
    assert "canaryTrafficPercent" not in live["spec"]["predictor"]
    text = set_serving_model(VALUES.read_text(), CANARY)
    desired = serving_model(text, NAME)
    assert desired is not None
    served = model_of(live)
    assert (desired.version, desired.run_id, desired.storage_uri) == (
        served["version"],
        served["run_id"],
        served["storage_uri"],
    )


def test_after_rollback_the_live_object_serves_what_git_still_says() -> None:
    api, _ = run_rollout(rollback=True)
    live = api.objects[(NS, NAME)]
    assert "canaryTrafficPercent" not in live["spec"]["predictor"]
    assert model_of(live)["version"] == CHAMPION.version
