"""The InferenceService as data: the annotations slipway keeps on it, the patch that makes it
serve a model version, and the fields the rollout owns under server-side apply. Pure: no
API call here (slipway.rollout.backends.kserve sends what these functions build), so each is
tested on plain dicts.
"""

from __future__ import annotations

import copy
from typing import Any

from slipway.errors import KServeError
from slipway.registry.model_version import ModelVersion

GROUP, VERSION, PLURAL = "serving.kserve.io", "v1beta1", "inferenceservices"
DEPLOYMENT_MODE = "serving.kserve.io/deploymentMode"
A_NAME, A_VERSION, A_RUN = "slipway.io/model-name", "slipway.io/model-version", "slipway.io/run-id"
A_DECISION = "slipway.io/rollout-decision"
A_ABORT = "slipway.io/rollout-abort"
A_PREVIOUS = "slipway.io/previous-model"
A_STATE = "slipway.io/rollout-state"  # the rollout's durable state (slipway.rollout.state)
A_NETWORK = "slipway.io/model-network"  # mlp or custom (ModelVersion.network)
# The two images a slipway predictor container may run, as the model-serving chart names
# them: the predictor image (numpy, no torch) and the torch one, for a custom network.
A_PREDICTOR_IMAGE, A_TORCH_IMAGE = "slipway.io/predictor-image", "slipway.io/torch-image"
CONTAINER = "kserve-container"
SHADOW_KEY = "target.json"  # the ConfigMap key the chart mounts (slipway.serving.shadow)
FIELD_MANAGER = "slipway-rollout"
APPLY_PATCH = "application/apply-patch+yaml"
OWNED_ANNOTATIONS = (
    DEPLOYMENT_MODE, A_NAME, A_VERSION, A_RUN, A_NETWORK, A_DECISION, A_ABORT, A_PREVIOUS,
    A_STATE,
)  # fmt: skip


# What KServe's storage initializer downloads (kserve-storage's Storage.download). MLflow's
# own URIs (mlflow-artifacts:, models:, runs:) are not among them: the rollout resolves a
# version to its s3:// location first (slipway.rollout.model_registry).
DOWNLOADABLE_SCHEMES = ("s3://", "gs://", "pvc://", "hdfs://", "webhdfs://", "https://", "oci://")


def require_downloadable(storage_uri: str) -> None:
    """Refuse, before anything is sent, a storage URI the storage initializer cannot fetch."""
    if not storage_uri.startswith(DOWNLOADABLE_SCHEMES):
        raise KServeError(
            f"storage URI {storage_uri!r} cannot be downloaded by KServe's storage initializer "
            f"(it fetches {', '.join(DOWNLOADABLE_SCHEMES)}); with MLflow's proxied artifacts, "
            "set tracking.artifacts_destination to the server's --artifacts-destination"
        )


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: the document ``target`` becomes after ``patch`` (``target`` untouched)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def model_of(isvc: dict[str, Any]) -> dict[str, Any]:
    """The served model as the spec states it: version, run id, storage URI, network."""
    annotations = isvc.get("metadata", {}).get("annotations") or {}
    predictor = isvc.get("spec", {}).get("predictor", {})
    storage = (predictor.get("model") or {}).get("storageUri")
    if storage is None:
        for container in predictor.get("containers") or []:
            for env in container.get("env") or []:
                if env.get("name") == "STORAGE_URI":
                    storage = env.get("value")
    return {
        "version": annotations.get(A_VERSION, ""),
        "run_id": annotations.get(A_RUN, ""),
        "storage_uri": storage or "",
        "network": annotations.get(A_NETWORK, "mlp"),
    }


def image_for(isvc: dict[str, Any], target: ModelVersion) -> str | None:
    """The image ``target`` needs, from the chart's annotations on ``isvc``: the torch image
    for a custom network, else the predictor image; None where the chart names none (the
    container's image then stays). A custom network with no torch image cannot be served."""
    annotations = isvc.get("metadata", {}).get("annotations") or {}
    if not target.needs_torch:
        return annotations.get(A_PREDICTOR_IMAGE) or None
    image = annotations.get(A_TORCH_IMAGE)
    if not image:
        raise KServeError(
            f"{target.name} version {target.version} has a custom network, which needs torch, "
            f"and the InferenceService names no torch image ({A_TORCH_IMAGE}: the "
            "model-serving chart's predictor.torchImage)"
        )
    return str(image)


def model_patch(isvc: dict[str, Any], target: ModelVersion) -> dict[str, Any]:
    """The merge patch that makes ``isvc`` serve ``target`` (canary field untouched)."""
    predictor = isvc.get("spec", {}).get("predictor", {})
    spec: dict[str, Any] = {
        "labels": {A_NAME: target.name, A_VERSION: target.version},
    }
    if predictor.get("model") is not None:
        spec["model"] = {"storageUri": target.storage_uri}
    else:
        containers = copy.deepcopy(predictor.get("containers") or [])
        mine = [c for c in containers if c.get("name") == CONTAINER] or containers[:1]
        if not mine:
            raise KServeError("the predictor has neither `model` nor a container to update")
        values = {
            "STORAGE_URI": target.storage_uri,
            "SLIPWAY_MODEL_VERSION": target.version,
            "SLIPWAY_RUN_ID": target.run_id,
        }
        env = [e for e in mine[0].get("env") or [] if e.get("name") not in values]
        mine[0]["env"] = [*env, *({"name": k, "value": v} for k, v in values.items())]
        image = image_for(isvc, target)
        if image is not None:
            mine[0]["image"] = image
        # A merge patch replaces lists whole: send every container.
        spec["containers"] = containers
    return {
        "metadata": {
            "annotations": {
                DEPLOYMENT_MODE: "Knative",
                A_NAME: target.name,
                A_VERSION: target.version,
                A_RUN: target.run_id,
                A_NETWORK: target.network,
            }
        },
        "spec": {"predictor": spec},
    }


def owned_fields(isvc: dict[str, Any]) -> dict[str, Any]:
    """The fields of the live ``isvc`` the rollout writes (and so owns under server-side
    apply): its annotations, the predictor's model location, lineage labels and split."""
    metadata = isvc.get("metadata", {})
    annotations = metadata.get("annotations") or {}
    predictor = isvc.get("spec", {}).get("predictor", {})
    mine: dict[str, Any] = {}
    labels = {k: v for k, v in (predictor.get("labels") or {}).items() if k in (A_NAME, A_VERSION)}
    if labels:
        mine["labels"] = labels
    if (predictor.get("model") or {}).get("storageUri") is not None:
        mine["model"] = {"storageUri": predictor["model"]["storageUri"]}
    elif predictor.get("containers"):
        mine["containers"] = copy.deepcopy(predictor["containers"])
    if predictor.get("canaryTrafficPercent") is not None:
        mine["canaryTrafficPercent"] = predictor["canaryTrafficPercent"]
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "InferenceService",
        "metadata": {
            "name": metadata.get("name"),
            "namespace": metadata.get("namespace"),
            "annotations": {k: v for k, v in annotations.items() if k in OWNED_ANNOTATIONS},
        },
        "spec": {"predictor": mine},
    }


def apply_config(isvc: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    """The server-side apply body for ``change`` on ``isvc``: the rollout's whole intent."""
    body: dict[str, Any] = merge_patch(owned_fields(isvc), change)
    return body
