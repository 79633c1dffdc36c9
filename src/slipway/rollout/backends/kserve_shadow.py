"""The KServe backend's shadow phase (slipway.rollout.backends.kserve calls it).

- ``start``: the challenger served by a second InferenceService, ``<name>-shadow``,
  cluster-local (no route from the ingress), built from the champion's predictor spec with
  the challenger's model; once it is Ready, the ConfigMap ``<name>-shadow`` (key
  ``target.json``) names its URL. The model-serving chart mounts that key into the
  champion's predictor (``shadow.enabled``), which mirrors to it (slipway.serving.shadow);
  the kubelet refreshes a mounted key in place, so the champion does not restart, and its
  InferenceService is never changed (no new revision).
- ``stop``: the key emptied (mirroring off), the shadow InferenceService deleted. Both
  idempotent: a rollback after ``stop`` or from a later process does the same again.

Why the predictor rather than the mesh: docs/rollout.md (Shadow).
"""

from __future__ import annotations

import copy
import json
from typing import TYPE_CHECKING, Any

from slipway.errors import KServeError
from slipway.rollout.backends.kserve import (
    APPLY_PATCH,
    DEPLOYMENT_MODE,
    FIELD_MANAGER,
    GROUP,
    PLURAL,
    SHADOW_KEY,
    VERSION,
    KServeBackend,
    merge_patch,
    model_patch,
)

if TYPE_CHECKING:
    from slipway.config.rollout import ShadowSettings
    from slipway.registry.model_version import ModelVersion


def shadow_name(backend: KServeBackend) -> str:
    return f"{backend.name}-shadow"


def shadow_service(live: dict[str, Any], name: str, canary: ModelVersion) -> dict[str, Any]:
    """The shadow InferenceService: the champion's predictor spec serving ``canary``."""
    namespace = live.get("metadata", {}).get("namespace", "")
    obj: dict[str, Any] = merge_patch(
        {
            "apiVersion": live.get("apiVersion", f"{GROUP}/{VERSION}"),
            "kind": "InferenceService",
            "metadata": {
                "name": name,
                "namespace": namespace,
                # No ingress route: only the champion's predictor calls it.
                "labels": {
                    "networking.knative.dev/visibility": "cluster-local",
                    "slipway.io/shadow-of": live.get("metadata", {}).get("name", ""),
                },
                "annotations": {DEPLOYMENT_MODE: "Knative"},
            },
            "spec": {"predictor": copy.deepcopy(live.get("spec", {}).get("predictor", {}))},
        },
        model_patch(live, canary),
    )
    obj["spec"]["predictor"].pop("canaryTrafficPercent", None)
    return obj


def start(backend: KServeBackend, canary: ModelVersion, settings: ShadowSettings) -> None:
    name = shadow_name(backend)
    live = backend.get()
    shadow = KServeBackend(
        name, backend.namespace, api_client=backend.api.api_client,
        crd_schema_dir=backend.crd_schema_dir, ready_timeout=backend.ready_timeout,
        poll_interval=backend.poll_interval, sleep=backend.sleep,
    )  # fmt: skip
    _delete_service(backend)  # left over from an interrupted rollout
    shadow.create(shadow_service(live, name, canary))
    ready = shadow.wait_ready(None)
    url = (ready.get("status", {}).get("address") or {}).get("url") or (
        f"http://{name}.{backend.namespace}.svc.cluster.local"
    )
    _write_target(
        backend,
        {
            "url": url,
            "model_name": canary.name,
            "model_version": canary.version,
            "percent": float(settings.percent),
            "score_tolerance": float(settings.score_tolerance),
            "max_inflight": settings.max_inflight,
            "timeout_seconds": float(settings.timeout_seconds),
        },
    )


def stop(backend: KServeBackend) -> None:
    _write_target(backend, None)
    _delete_service(backend)


def _write_target(backend: KServeBackend, target: dict[str, Any] | None) -> None:
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    name = shadow_name(backend)
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": backend.namespace},
        # An empty key: mirroring off (the predictor reads it as no target).
        "data": {SHADOW_KEY: json.dumps(target) if target else ""},
    }
    backend.sent.append(body)
    try:
        client.CoreV1Api(backend.api.api_client).patch_namespaced_config_map(
            name, backend.namespace, body, field_manager=FIELD_MANAGER, force=True,
            _content_type=APPLY_PATCH,
        )  # fmt: skip
    except ApiException as exc:
        raise KServeError(
            f"ConfigMap {backend.namespace}/{name}: HTTP {exc.status} {exc.body}"
        ) from exc


def _delete_service(backend: KServeBackend) -> None:
    from kubernetes.client.exceptions import ApiException

    name = shadow_name(backend)
    try:
        backend.api.delete_namespaced_custom_object(GROUP, VERSION, backend.namespace, PLURAL, name)
    except ApiException as exc:
        if exc.status != 404:
            raise KServeError(
                f"InferenceService {backend.namespace}/{name}: HTTP {exc.status} {exc.reason}"
            ) from exc
