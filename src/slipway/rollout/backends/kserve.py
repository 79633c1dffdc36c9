"""The rollout's cluster backend: a KServe InferenceService in Knative deployment mode.

``KServeBackend`` is a whole ``slipway.rollout.ports.RolloutBackend``: traffic router,
abort signal (``AbortAnnotation``), decision record (an annotation) and a rollback from
the records the InferenceService carries (``slipway.io/previous-model``).

KServe's canary mechanics: changing the predictor spec creates a new Knative revision;
``canaryTrafficPercent: N`` sends N% to that latest revision and the rest to the last
revision that was rolled out; removing the field sends everything to the latest. So:

- canary:   spec.predictor gets the new model (``model.storageUri``, or for slipway's own
            container its ``STORAGE_URI``/version/run-id variables) and
            ``canaryTrafficPercent: <first step>``; lineage annotations and pod labels move
            with it (Prometheus copies pod labels onto the series);
- step:     ``canaryTrafficPercent: <step>``;
- promote:  ``canaryTrafficPercent`` removed (100% to the latest revision);
- shadow:   a second InferenceService ``<name>-shadow`` serves the challenger (cluster-local,
            no route from the ingress); the ConfigMap ``<name>-shadow`` (key
            ``target.json``, mounted into the champion's predictor by the model-serving
            chart, refreshed in place by the kubelet: no restart) names its URL, and the
            champion's predictor mirrors to it (slipway.serving.shadow). Stopping empties
            the key and deletes the shadow InferenceService;
- rollback: ``canaryTrafficPercent: 0`` first (all traffic back to the previous revision at
            once), then the previous model's spec restored and the field removed, so the
            live object matches git again (Argo CD never sees drift to undo).

The storage URI is the version's ``s3://`` location (resolved by the rollout from MLflow's
proxied ``mlflow-artifacts:`` one); a URI the storage initializer cannot download is refused
before anything is sent.

Every object sent is validated against the InferenceService CRD schema first (a patch:
the object as it will be after the patch), when a schema folder is given.

Field ownership (docs/operations.md): every write is a server-side apply under the field
manager ``slipway-rollout`` (``force``: the rollout takes over the fields it changes from
Argo CD's manager), and the model-serving Application ignores what that manager owns
(``managedFieldsManagers``). An apply lists every field the manager owns; a field it owned
and leaves out is removed. So each call sends the rollout's whole intent: the fields it owns
on the live object with the change merged in (a ``None`` in the change drops the field).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from slipway.config.rollout import ShadowSettings
from slipway.errors import KServeError
from slipway.registry.model_version import ModelVersion
from slipway.rollout.backends.inference_service import (
    A_ABORT,
    A_DECISION,
    A_NAME,
    A_NETWORK,
    A_PREVIOUS,
    A_RUN,
    A_STATE,
    A_VERSION,
    APPLY_PATCH,
    CONTAINER,
    DEPLOYMENT_MODE,
    DOWNLOADABLE_SCHEMES,
    FIELD_MANAGER,
    GROUP,
    OWNED_ANNOTATIONS,
    PLURAL,
    SHADOW_KEY,
    VERSION,
    apply_config,
    merge_patch,
    model_of,
    model_patch,
    owned_fields,
    require_downloadable,
)
from slipway.rollout.state import RolloutState

__all__ = [
    "APPLY_PATCH",
    "A_ABORT",
    "A_DECISION",
    "A_NAME",
    "A_PREVIOUS",
    "A_RUN",
    "A_STATE",
    "A_VERSION",
    "CONTAINER",
    "DEPLOYMENT_MODE",
    "DOWNLOADABLE_SCHEMES",
    "FIELD_MANAGER",
    "GROUP",
    "OWNED_ANNOTATIONS",
    "PLURAL",
    "SHADOW_KEY",
    "VERSION",
    "AbortAnnotation",
    "AnnotationStateStore",
    "KServeBackend",
    "apply_config",
    "merge_patch",
    "model_of",
    "model_patch",
    "owned_fields",
    "require_downloadable",
]

log = logging.getLogger(__name__)


def _api_from_settings(kubeconfig: Path | None, context: str | None) -> Any:
    from kubernetes import client, config

    load_kube: Any = config.load_kube_config
    load_incluster: Any = config.load_incluster_config
    if kubeconfig is not None or context is not None:
        load_kube(config_file=str(kubeconfig) if kubeconfig else None, context=context)
    else:
        try:
            load_incluster()
        except config.ConfigException:
            load_kube()
    return client.ApiClient()


class KServeBackend:
    def __init__(
        self,
        name: str,
        namespace: str,
        api_client: Any = None,
        crd_schema_dir: Path | None = None,
        ready_timeout: float = 600.0,
        poll_interval: float = 2.0,
        kubeconfig: Path | None = None,
        context: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        from kubernetes import client

        self.name = name
        self.namespace = namespace
        api_client = api_client or _api_from_settings(kubeconfig, context)
        self.api: Any = client.CustomObjectsApi(api_client)
        self.crd_schema_dir = crd_schema_dir
        self.ready_timeout = ready_timeout
        self.poll_interval = poll_interval
        self.sleep = sleep
        self.previous: dict[str, Any] | None = None
        self.sent: list[dict[str, Any]] = []  # every object/change sent, for audit and tests
        self.applied: list[dict[str, Any]] = []  # the server-side apply body of each change
        self.shadowing = False  # a shadow phase running, no canary deployed yet
        self._abort = AbortAnnotation(self)
        self._state = AnnotationStateStore(self)

    # ------------------------------------------------------------------ API calls

    def get(self) -> dict[str, Any]:
        from kubernetes.client.exceptions import ApiException

        try:
            obj: dict[str, Any] = self.api.get_namespaced_custom_object(
                GROUP, VERSION, self.namespace, PLURAL, self.name
            )
        except ApiException as exc:
            raise KServeError(
                f"InferenceService {self.namespace}/{self.name}: HTTP {exc.status} {exc.reason}"
            ) from exc
        return obj

    def _validate(self, obj: dict[str, Any]) -> None:
        if self.crd_schema_dir is None:
            return
        from slipway.kube.manifests import validate_manifest

        # The server adds status and bookkeeping fields; the schema check is on what we own.
        clean = {k: v for k, v in obj.items() if k != "status"}
        metadata = {
            k: v
            for k, v in (clean.get("metadata") or {}).items()
            if k in ("name", "namespace", "labels", "annotations")
        }
        clean["metadata"] = metadata
        errors = validate_manifest(clean, self.crd_schema_dir)
        if errors:
            raise KServeError("refusing to send an invalid InferenceService: " + "; ".join(errors))

    def patch(self, patch: dict[str, Any]) -> dict[str, Any]:
        from kubernetes.client.exceptions import ApiException

        current = self.get()
        self._validate(merge_patch(current, patch))
        body = apply_config(current, patch)
        self.sent.append(patch)
        self.applied.append(body)
        try:
            result: dict[str, Any] = self.api.patch_namespaced_custom_object(
                GROUP,
                VERSION,
                self.namespace,
                PLURAL,
                self.name,
                body,
                field_manager=FIELD_MANAGER,
                force=True,
                _content_type=APPLY_PATCH,
            )
        except ApiException as exc:
            raise KServeError(f"patch refused: HTTP {exc.status} {exc.body}") from exc
        return result

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        self._validate(obj)
        self.sent.append(obj)
        result: dict[str, Any] = self.api.create_namespaced_custom_object(
            GROUP, VERSION, self.namespace, PLURAL, obj
        )
        return result

    # ------------------------------------------------------------------ readiness

    def _traffic_entries(self, obj: dict[str, Any]) -> list[dict[str, Any]]:
        predictor = (obj.get("status", {}).get("components") or {}).get("predictor") or {}
        return list(predictor.get("traffic") or [])

    def _latest_percent(self, obj: dict[str, Any]) -> int | None:
        for entry in self._traffic_entries(obj):
            if entry.get("latestRevision"):
                return int(entry.get("percent") or 0)
        return None

    def wait_ready(self, latest_percent: int | None) -> dict[str, Any]:
        """Until the controller has seen the latest generation, the service is Ready, and
        (when given) the latest revision has ``latest_percent`` of the traffic."""
        deadline = time.monotonic() + self.ready_timeout
        while True:
            obj = self.get()
            status = obj.get("status") or {}
            generation = obj.get("metadata", {}).get("generation")
            observed = status.get("observedGeneration")
            ready = any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in status.get("conditions") or []
            )
            fresh = generation is None or observed == generation
            split_ok = latest_percent is None or self._latest_percent(obj) == latest_percent
            if fresh and ready and split_ok:
                return obj
            if time.monotonic() > deadline:
                raise KServeError(
                    f"InferenceService {self.name} not ready with {latest_percent}% on the latest "
                    f"revision after {self.ready_timeout:.0f}s (status: {json.dumps(status)[:500]})"
                )
            self.sleep(self.poll_interval)

    # ------------------------------------------------------------------ Backend

    def deploy_canary(self, canary: ModelVersion, champion: ModelVersion, percent: int) -> None:
        require_downloadable(canary.storage_uri)
        self.shadowing = False
        isvc = self.get()
        self.previous = model_of(isvc) | {"name": champion.name}
        if not self.previous["storage_uri"]:
            self.previous["storage_uri"] = champion.storage_uri
        if A_NETWORK not in (isvc.get("metadata", {}).get("annotations") or {}):
            self.previous["network"] = champion.network  # an object from an older chart
        patch = model_patch(isvc, canary)
        patch["metadata"]["annotations"][A_PREVIOUS] = json.dumps(self.previous, sort_keys=True)
        patch["metadata"]["annotations"][A_ABORT] = None
        patch["spec"]["predictor"]["canaryTrafficPercent"] = percent
        self.patch(patch)
        self.wait_ready(percent)

    # ------------------------------------------------------------------ shadow

    def start_shadow(
        self, canary: ModelVersion, champion: ModelVersion, settings: ShadowSettings
    ) -> None:
        """The challenger in ``<name>-shadow``, the mirror pointed at it (kserve_shadow)."""
        from slipway.rollout.backends.kserve_shadow import start

        require_downloadable(canary.storage_uri)
        self.shadowing = True  # before anything exists: a rollback must clean up
        start(self, canary, settings)

    def stop_shadow(self) -> None:
        from slipway.rollout.backends.kserve_shadow import stop

        stop(self)

    def set_canary_traffic(self, percent: int) -> None:
        self.patch({"spec": {"predictor": {"canaryTrafficPercent": percent}}})
        self.wait_ready(percent)

    def traffic(self) -> dict[str, int]:
        return {
            str(e.get("revisionName")): int(e.get("percent") or 0)
            for e in self._traffic_entries(self.get())
        }

    def promote(self) -> None:
        self.patch({"spec": {"predictor": {"canaryTrafficPercent": None}}})
        self.wait_ready(100)

    def rollback(self) -> None:
        if self.shadowing:
            # From the shadow phase: the champion's spec never changed; only the shadow goes.
            self.stop_shadow()
            self.shadowing = False
            return
        # First the traffic, at once: the previous revision still runs, so this is quick.
        self.patch({"spec": {"predictor": {"canaryTrafficPercent": 0}}})
        self.wait_ready(0)
        isvc = self.get()
        previous = self.previous
        if previous is None:
            raw = (isvc.get("metadata", {}).get("annotations") or {}).get(A_PREVIOUS)
            previous = json.loads(raw) if raw else None
        if previous is None:
            log.warning("no record of the previous model: canary left at 0%% traffic")
            return
        target = ModelVersion(
            previous["name"], previous["version"], previous["run_id"], previous["storage_uri"],
            network=previous.get("network", "mlp"),  # a record from before the field: mlp
        )  # fmt: skip
        patch = model_patch(isvc, target)
        patch["spec"]["predictor"]["canaryTrafficPercent"] = None
        self.patch(patch)
        self.wait_ready(100)

    def roll_back_from_records(self) -> str:
        # The previous model from the annotation deploy_canary left, not from memory.
        self.previous = None
        self.rollback()
        return "canary traffic set to 0 and the previous model restored"

    def record_decision(self, record: dict[str, Any]) -> None:
        value = json.dumps(record, sort_keys=True, separators=(",", ":"))
        self.patch({"metadata": {"annotations": {A_DECISION: value[:4000]}}})

    @property
    def abort(self) -> AbortAnnotation:
        return self._abort

    @property
    def state(self) -> AnnotationStateStore:
        return self._state

    def serves_only(self, version: str) -> bool:
        isvc = self.get()
        predictor = isvc.get("spec", {}).get("predictor", {})
        return (
            predictor.get("canaryTrafficPercent") is None and model_of(isvc)["version"] == version
        )

    def model_cache_dir(self) -> Path | None:
        return None  # KServe's storage initializer fetches the storage URI in the pod

    def ensure_serving(self, champion: ModelVersion) -> str | None:
        # The InferenceService serves the champion already; clients call its own URL.
        return None

    def close(self) -> None:
        return None


class AbortAnnotation:
    """The abort signal on KServe: ``slipway.io/rollout-abort: "true"`` on the
    InferenceService, so that ``slipway rollout abort`` works from anywhere with API
    access. ``deploy_canary`` removes it too."""

    def __init__(self, backend: KServeBackend) -> None:
        self.backend = backend

    def _value(self) -> str:
        annotations = self.backend.get().get("metadata", {}).get("annotations") or {}
        return str(annotations.get(A_ABORT, ""))

    def requested(self) -> bool:
        return self._value().lower() == "true"

    def request(self) -> None:
        self.backend.patch({"metadata": {"annotations": {A_ABORT: "true"}}})

    def clear(self) -> None:
        if self._value():
            self.backend.patch({"metadata": {"annotations": {A_ABORT: None}}})


class AnnotationStateStore:
    """The rollout's durable state on KServe: ``slipway.io/rollout-state`` on the
    InferenceService (JSON), so that a controller in a new pod finds it."""

    def __init__(self, backend: KServeBackend) -> None:
        self.backend = backend

    @property
    def where(self) -> str:
        b = self.backend
        return f"InferenceService {b.namespace}/{b.name} annotation {A_STATE}"

    def load(self) -> RolloutState | None:
        annotations = self.backend.get().get("metadata", {}).get("annotations") or {}
        raw = annotations.get(A_STATE)
        return RolloutState.from_json(raw, self.where) if raw else None

    def save(self, state: RolloutState) -> None:
        state.updated_at = time.time()
        self.backend.patch({"metadata": {"annotations": {A_STATE: state.to_json()}}})
