"""The KServe backend's shadow phase against a fake Kubernetes API (fakes.FakeKubernetes,
extended here with ConfigMaps and DELETE) through the real ``kubernetes`` client: the
challenger in its own ``<name>-shadow`` InferenceService (checked against the CRD schema),
the champion's mirror target in the ConfigMap the chart mounts, both cleared afterwards, and
the champion's InferenceService never changed by the shadow phase.

What only a real cluster can show: that the kubelet refreshes the mounted key in place and
that the champion's pods reach the shadow's cluster-local URL."""

from __future__ import annotations

import copy
import json
import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s

from slipway.config.rollout import ShadowSettings
from slipway.rollout.backends.kserve import SHADOW_KEY, KServeBackend

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fakes import FakeKubernetes, _Handler
from test_kserve_backend import CANARY, CHAMPION, NAME, NS, custom_container_isvc

CONFIGMAP = re.compile(r"/api/v1/namespaces/(?P<ns>[^/]+)/configmaps/(?P<name>[^/?]+)")


class FakeWithConfigMaps(FakeKubernetes):
    def __init__(self) -> None:
        super().__init__()
        self.configmaps: dict[tuple[str, str], dict[str, Any]] = {}
        self.deleted: list[str] = []

    def handle(self, method: str, path: str, headers: dict[str, str], body: Any) -> tuple[int, Any]:
        cm = CONFIGMAP.fullmatch(path.split("?")[0])
        if cm:
            key = (cm["ns"], cm["name"])
            if method == "PATCH":  # server-side apply creates or replaces what it owns
                self.configmaps[key] = copy.deepcopy(body)
                return 200, body
            if key not in self.configmaps:
                return 404, {"kind": "Status", "code": 404, "reason": "NotFound"}
            return 200, self.configmaps[key]
        if method == "DELETE":
            name = path.split("?")[0].rsplit("/", 1)[-1]
            if (NS, name) not in self.objects:
                return 404, {"kind": "Status", "code": 404, "reason": "NotFound"}
            del self.objects[(NS, name)]
            self.deleted.append(name)
            return 200, {"kind": "Status", "status": "Success"}
        status, payload = super().handle(method, path, headers, body)
        if method == "POST" and status == 201:
            # KServe publishes the cluster-local address once the service is Ready.
            obj = self.objects[(NS, payload["metadata"]["name"])]
            name = obj["metadata"]["name"]
            obj["status"]["address"] = {"url": f"http://{name}.{NS}.svc.cluster.local"}
        return status, payload

    @contextmanager
    def serving(self) -> Iterator[str]:
        def do_delete(handler: Any) -> None:
            handler._dispatch("DELETE")

        handler = type("Handler", (_Handler,), {"fake": self, "do_DELETE": do_delete})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()
            server.server_close()


@pytest.fixture
def fake() -> Iterator[tuple[FakeWithConfigMaps, KServeBackend]]:
    api = FakeWithConfigMaps()
    with api.serving() as url:
        yield api, KServeBackend(
            NAME, NS, api_client=k8s.ApiClient(k8s.Configuration(host=url)),
            ready_timeout=5, poll_interval=0.01,
        )  # fmt: skip


SETTINGS = ShadowSettings(percent=20, duration_seconds=60)


def _target(api: FakeWithConfigMaps) -> str:
    return str(api.configmaps[(NS, f"{NAME}-shadow")]["data"][SHADOW_KEY])


def test_shadow_serves_the_challenger_apart_and_points_the_mirror_at_it(
    fake: tuple[FakeWithConfigMaps, KServeBackend], crd_schema_dir: Path
) -> None:
    api, backend = fake
    backend.crd_schema_dir = crd_schema_dir
    backend.create(custom_container_isvc())
    before = copy.deepcopy(api.objects[(NS, NAME)]["spec"])
    backend.start_shadow(CANARY, CHAMPION, SETTINGS)
    shadow = api.objects[(NS, f"{NAME}-shadow")]
    env = {e["name"]: e["value"] for e in shadow["spec"]["predictor"]["containers"][0]["env"]}
    assert env["STORAGE_URI"] == CANARY.storage_uri and env["SLIPWAY_MODEL_VERSION"] == "4"
    assert "canaryTrafficPercent" not in shadow["spec"]["predictor"]
    assert shadow["metadata"]["labels"]["networking.knative.dev/visibility"] == "cluster-local"
    target = json.loads(_target(api))
    assert target["url"] == f"http://{NAME}-shadow.{NS}.svc.cluster.local"
    assert (target["model_version"], target["percent"]) == ("4", 20.0)
    # The champion's InferenceService is untouched: no new revision, no restart.
    assert api.objects[(NS, NAME)]["spec"] == before
    backend.stop_shadow()
    assert _target(api) == ""
    assert (NS, f"{NAME}-shadow") not in api.objects
    # Then the steps: the canary on the champion's InferenceService, as without shadow.
    backend.deploy_canary(CANARY, CHAMPION, 10)
    assert api.objects[(NS, NAME)]["spec"]["predictor"]["canaryTrafficPercent"] == 10


def test_a_rollback_in_shadow_removes_the_shadow_and_leaves_the_champion(
    fake: tuple[FakeWithConfigMaps, KServeBackend],
) -> None:
    api, backend = fake
    backend.create(custom_container_isvc())
    before = copy.deepcopy(api.objects[(NS, NAME)])
    backend.start_shadow(CANARY, CHAMPION, SETTINGS)
    backend.rollback()
    assert _target(api) == ""
    assert api.deleted == [f"{NAME}-shadow"]
    assert api.objects[(NS, NAME)]["spec"] == before["spec"]
    assert not any(p["body"].get("spec") for p in api.patches)  # no patch of any spec


def test_a_challenger_the_storage_initializer_cannot_fetch_is_refused_before_shadow(
    fake: tuple[FakeWithConfigMaps, KServeBackend],
) -> None:
    from slipway.errors import KServeError
    from slipway.registry.model_version import ModelVersion

    api, backend = fake
    backend.create(custom_container_isvc())
    bad = ModelVersion(NAME, "5", "run-5", "mlflow-artifacts:/5")
    with pytest.raises(KServeError, match="cannot be downloaded"):
        backend.start_shadow(bad, CHAMPION, SETTINGS)
    assert (NS, f"{NAME}-shadow") not in api.objects
