"""KServeBackend against a fake Kubernetes API (fakes.FakeKubernetes) through the real
``kubernetes`` client: every object and patch it sends is checked against the
InferenceService CRD schema (``crd_schema_dir``), and the calls move traffic and models
the way KServe's canary rollout expects.

What only a real cluster can show (docs/serving.md): that KServe and Knative actually split
traffic by ``canaryTrafficPercent``, start the new revision's pods with the storage
initializer, report readiness in this shape, and that Argo CD leaves the field alone.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s

from slipway.kube.manifests import validate_manifest
from slipway.registry.model_version import ModelVersion
from slipway.rollout.backends.kserve import (
    A_ABORT,
    A_DECISION,
    A_PREVIOUS,
    KServeBackend,
    KServeError,
    merge_patch,
    model_of,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fakes import FakeKubernetes

NS, NAME = "model-serving", "churn-classifier"
CHAMPION = ModelVersion(NAME, "3", "run-3", "s3://bucket/models/churn/3")
CANARY = ModelVersion(NAME, "4", "run-4", "s3://bucket/models/churn/4")


def custom_container_isvc() -> dict[str, Any]:
    """As the model-serving chart renders it: slipway's own predictor container."""
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {
            "name": NAME,
            "namespace": NS,
            "annotations": {
                "serving.kserve.io/deploymentMode": "Knative",
                "slipway.io/model-name": NAME,
                "slipway.io/model-version": "3",
                "slipway.io/run-id": "run-3",
            },
        },
        "spec": {
            "predictor": {
                "minReplicas": 1,
                "labels": {"slipway.io/model-name": NAME, "slipway.io/model-version": "3"},
                "containers": [
                    {
                        "name": "kserve-container",
                        "image": "ghcr.io/slipway-ml/slipway-predictor:0.1.0",
                        "args": ["--model-dir", "/mnt/models", "--model-name", NAME],
                        "env": [
                            {"name": "STORAGE_URI", "value": CHAMPION.storage_uri},
                            {"name": "SLIPWAY_MODEL_VERSION", "value": "3"},
                            {"name": "SLIPWAY_RUN_ID", "value": "run-3"},
                            {"name": "HOME", "value": "/tmp"},
                        ],
                    }
                ],
            }
        },
    }


def model_format_isvc() -> dict[str, Any]:
    """A model served by a KServe runtime (``spec.predictor.model``)."""
    obj = custom_container_isvc()
    obj["spec"]["predictor"] = {
        "model": {"modelFormat": {"name": "mlflow"}, "storageUri": CHAMPION.storage_uri}
    }
    return obj


@pytest.fixture
def fake() -> Iterator[tuple[FakeKubernetes, str]]:
    api = FakeKubernetes()
    with api.serving() as url:
        yield api, url


def backend_for(url: str, crd_schema_dir: Path) -> KServeBackend:
    config = k8s.Configuration(host=url)
    return KServeBackend(
        NAME, NS, api_client=k8s.ApiClient(config), crd_schema_dir=crd_schema_dir,
        ready_timeout=5, poll_interval=0.01,
    )  # fmt: skip


def _assert_all_valid(api: FakeKubernetes, backend: KServeBackend, schemas: Path) -> None:
    for obj in api.history:
        clean = {k: v for k, v in obj.items() if k != "status"}
        clean["metadata"] = {
            k: v for k, v in obj["metadata"].items() if k in ("name", "namespace", "annotations")
        }
        assert validate_manifest(clean, schemas) == [], json.dumps(clean)[:500]
    assert backend.sent, "nothing was sent"


def _latest(api: FakeKubernetes) -> dict[str, Any]:
    return api.objects[(NS, NAME)]


@pytest.mark.parametrize("initial", [custom_container_isvc, model_format_isvc])
def test_canary_steps_then_promotion(
    fake: tuple[FakeKubernetes, str], crd_schema_dir: Path, initial: Any
) -> None:
    api, url = fake
    backend = backend_for(url, crd_schema_dir)
    backend.create(initial())
    backend.deploy_canary(CANARY, CHAMPION, 10)
    isvc = _latest(api)
    assert isvc["spec"]["predictor"]["canaryTrafficPercent"] == 10
    assert model_of(isvc) == {"version": "4", "run_id": "run-4", "storage_uri": CANARY.storage_uri,
                              "network": "mlp"}  # fmt: skip
    assert isvc["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "Knative"
    assert isvc["spec"]["predictor"]["labels"]["slipway.io/model-version"] == "4"
    assert json.loads(isvc["metadata"]["annotations"][A_PREVIOUS])["version"] == "3"
    assert sorted(backend.traffic().values()) == [10, 90]
    if initial is custom_container_isvc:
        env = {e["name"]: e["value"] for e in isvc["spec"]["predictor"]["containers"][0]["env"]}
        assert env == {"STORAGE_URI": CANARY.storage_uri, "SLIPWAY_MODEL_VERSION": "4",
                       "SLIPWAY_RUN_ID": "run-4", "HOME": "/tmp"}  # fmt: skip

    backend.set_canary_traffic(50)
    assert sorted(backend.traffic().values()) == [50, 50]
    backend.promote()
    isvc = _latest(api)
    assert "canaryTrafficPercent" not in isvc["spec"]["predictor"]
    assert list(backend.traffic().values()) == [100]
    backend.record_decision({"decision": "promoted", "version": "4"})
    assert json.loads(_latest(api)["metadata"]["annotations"][A_DECISION])["decision"] == "promoted"
    _assert_all_valid(api, backend, crd_schema_dir)
    # Every write went through PATCH with a JSON merge patch, after one POST.
    methods = [c[0] for c in api.calls if c[0] != "GET"]
    assert methods[0] == "POST"
    assert set(methods[1:]) == {"PATCH"}


def test_rollback_zeroes_the_canary_then_restores_the_previous_model(
    fake: tuple[FakeKubernetes, str], crd_schema_dir: Path
) -> None:
    api, url = fake
    backend = backend_for(url, crd_schema_dir)
    backend.create(custom_container_isvc())
    backend.deploy_canary(CANARY, CHAMPION, 10)
    first_revision = next(
        e["revisionName"]
        for e in _latest(api)["status"]["components"]["predictor"]["traffic"]
        if not e["latestRevision"]
    )
    patches_before = len(backend.sent)
    backend.rollback()
    rollback_patches = backend.sent[patches_before:]
    # First the traffic alone, at once, then the model.
    assert rollback_patches[0] == {"spec": {"predictor": {"canaryTrafficPercent": 0}}}
    states = api.history[-len(rollback_patches) :]
    after_zero = states[0]["status"]["components"]["predictor"]["traffic"]
    assert {e["revisionName"]: e["percent"] for e in after_zero}[first_revision] == 100
    isvc = _latest(api)
    assert model_of(isvc) == {
        "version": "3",
        "run_id": "run-3",
        "storage_uri": CHAMPION.storage_uri,
        "network": "mlp",
    }
    assert "canaryTrafficPercent" not in isvc["spec"]["predictor"]
    assert isvc["spec"]["predictor"]["labels"]["slipway.io/model-version"] == "3"
    _assert_all_valid(api, backend, crd_schema_dir)


def test_rollback_from_another_process_uses_the_recorded_previous_model(
    fake: tuple[FakeKubernetes, str], crd_schema_dir: Path
) -> None:
    api, url = fake
    first = backend_for(url, crd_schema_dir)
    first.create(custom_container_isvc())
    first.deploy_canary(CANARY, CHAMPION, 10)
    first.abort.request()
    other = backend_for(url, crd_schema_dir)  # e.g. `slipway rollout abort` elsewhere
    assert other.abort.requested()
    assert "previous model restored" in other.roll_back_from_records()
    assert model_of(_latest(api))["version"] == "3"
    other.abort.clear()
    assert not first.abort.requested()
    assert A_ABORT not in _latest(api)["metadata"]["annotations"]


def test_invalid_objects_are_refused_before_sending(
    fake: tuple[FakeKubernetes, str], crd_schema_dir: Path
) -> None:
    api, url = fake
    backend = backend_for(url, crd_schema_dir)
    backend.create(custom_container_isvc())
    sent = len(api.calls)
    with pytest.raises(KServeError, match="invalid InferenceService"):
        backend.patch({"spec": {"predictor": {"canaryTrafficPercent": "ten"}}})
    assert [c[0] for c in api.calls[sent:]] == ["GET"]  # read, never written
    bad = custom_container_isvc()
    bad["spec"]["predictor"]["minReplicas"] = "one"
    with pytest.raises(KServeError):
        backend_for(url, crd_schema_dir).create(bad | {"metadata": {"name": "x", "namespace": NS}})


def test_a_missing_inference_service_is_a_clear_error(
    fake: tuple[FakeKubernetes, str], crd_schema_dir: Path
) -> None:
    _, url = fake
    with pytest.raises(KServeError, match="HTTP 404"):
        backend_for(url, crd_schema_dir).deploy_canary(CANARY, CHAMPION, 10)


def test_merge_patch_follows_rfc_7386() -> None:
    target = {"a": "b", "c": {"d": "e", "f": "g"}, "l": [1, 2]}
    patch = {"a": "z", "c": {"f": None}, "l": [3]}
    assert merge_patch(target, patch) == {"a": "z", "c": {"d": "e"}, "l": [3]}
    assert target["c"] == {"d": "e", "f": "g"}


@pytest.mark.parametrize(
    "storage_uri",
    ["mlflow-artifacts:/1/models/m-abc/artifacts", "models:/churn-classifier/4", "/tmp/model", ""],
)
def test_a_storage_uri_kserve_cannot_download_is_refused_before_anything_is_sent(
    fake: tuple[FakeKubernetes, str], crd_schema_dir: Path, storage_uri: str
) -> None:
    api, url = fake
    backend = backend_for(url, crd_schema_dir)
    backend.create(custom_container_isvc())
    sent = len(backend.sent)
    proxied = ModelVersion(NAME, "4", "run-4", storage_uri)
    with pytest.raises(KServeError, match="cannot be downloaded by KServe's storage initializer"):
        backend.deploy_canary(proxied, CHAMPION, 10)
    assert len(backend.sent) == sent
    assert model_of(_latest(api))["version"] == "3"
