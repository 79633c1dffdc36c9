"""The controller in KServe mode: KServeBackend against the fake Kubernetes API, judging
with PromQL against a real Prometheus that scrapes two real predictor processes (champion
and canary), while clients split their requests by the ``canaryTrafficPercent`` the
backend last patched. The same queries and decisions as the local backend; only the
traffic mechanism differs.
"""

from __future__ import annotations

import json
import random
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fakes import FakeKubernetes
from kubernetes import client as k8s
from serving_support import MODEL, World

from slipway.config import RolloutSettings, fault_injection_config
from slipway.data import synthetic
from slipway.local import processes
from slipway.local.processes import Managed, free_port
from slipway.registry import aliases
from slipway.registry.model_version import ModelVersion
from slipway.rollout.backends.kserve import A_DECISION, KServeBackend, model_of
from slipway.rollout.controller import RolloutController
from slipway.rollout.model_registry import MlflowChampion, MlflowTags
from slipway.rollout.prometheus import PrometheusClient
from slipway.rollout.records import BackendDecision

pytestmark = pytest.mark.integration
NS = "model-serving"


def _isvc(version: str, run_id: str) -> dict[str, Any]:
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {
            "name": MODEL,
            "namespace": NS,
            "annotations": {
                "serving.kserve.io/deploymentMode": "Knative",
                "slipway.io/model-name": MODEL,
                "slipway.io/model-version": version,
                "slipway.io/run-id": run_id,
            },
        },
        "spec": {
            "predictor": {
                "containers": [
                    {
                        "name": "kserve-container",
                        "image": "ghcr.io/slipway-ml/slipway-predictor:0.1.0",
                        "env": [{"name": "STORAGE_URI", "value": f"s3://b/{version}"}],
                    }
                ]
            }
        },
    }


ROWS = synthetic.generate(300, seed=4242).drop(columns=["churned"]).to_dict("records")


class SplitLoad:
    """Clients that send each request to the canary or the champion server in the share
    the InferenceService spec currently asks for (what Knative would do)."""

    def __init__(self, api: FakeKubernetes, champion: Managed, canary: Managed) -> None:
        self.api, self.champion, self.canary = api, champion, canary
        self.stop = threading.Event()
        self.codes: list[int] = []
        self.rng = random.Random(4242)  # noqa: S311  (test traffic, not a secret)
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _percent(self) -> int:
        with self.api.lock:
            predictor = self.api.objects[(NS, MODEL)]["spec"]["predictor"]
        value = predictor.get("canaryTrafficPercent")
        if value is None:  # no canary field: the latest revision has everything
            changed = model_of(self.api.objects[(NS, MODEL)])["version"] != self.start_version
            return 100 if changed else 0
        return int(value)

    def _run(self) -> None:
        credit = 0.0
        with httpx.Client(timeout=30) as http:
            for _ in range(20_000):
                if self.stop.is_set():
                    return
                credit += self._percent() / 100
                target = self.champion
                if credit >= 1:
                    credit -= 1
                    target = self.canary
                # Varied rows, drawn independently of the split (a row index that follows
                # the request count would give the canary every tenth row at 10%, always
                # the same 30): each side's scores a fair sample for the score gate.
                row = self.rng.choice(ROWS)
                r = http.post(f"{target.url}/v1/models/{MODEL}:predict", json={"instances": [row]})
                self.codes.append(r.status_code)
                time.sleep(0.005)

    def __enter__(self) -> SplitLoad:
        self.start_version = model_of(self.api.objects[(NS, MODEL)])["version"]
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=30)


@pytest.fixture(scope="module")
def prometheus_url(world: World) -> str:
    world.stack.up(prometheus=True)
    url = world.stack.prometheus_url()
    assert url is not None
    return url


@pytest.fixture
def fake_api() -> Iterator[tuple[FakeKubernetes, str]]:
    api = FakeKubernetes()
    with api.serving() as url:
        yield api, url


def _target(world: World, version: str) -> ModelVersion:
    return ModelVersion(MODEL, version, world.run_ids[version], f"s3://b/{version}")


def _controller(
    settings: RolloutSettings, backend: KServeBackend, metrics: PrometheusClient, client: Any
) -> RolloutController:
    """The controller as `slipway rollout start` wires it on KServe, less the files."""
    return RolloutController(
        settings, backend, metrics, backend.abort, MlflowChampion(client),
        recorders=[BackendDecision(backend), MlflowTags(client)],
    )  # fmt: skip


def _serve_with_faults(world: World, version: str, error_rate: float, name: str) -> Managed:
    """A predictor for ``version`` that fails ``error_rate`` of its requests, as
    ``World.serve`` starts one, with a fault-injection config of its own (--config)."""
    config = world.state / f"{name}-config.json"
    config.write_text(json.dumps(fault_injection_config(None, error_rate, 0)))
    port = free_port()
    server = processes.start(
        name,
        [sys.executable, "-m", "slipway.serving", "--model-dir", str(world.model_dirs[version]),
         "--model-name", MODEL, "--model-version", version, "--run-id", world.run_ids[version],
         "--http-port", str(port), "--host", "127.0.0.1", "--config", str(config)],
        port=port, health_path=f"/v2/models/{MODEL}/ready", log_dir=world.state / "logs",
        timeout=120,
    )  # fmt: skip
    world.servers.append(server)
    return server


@pytest.mark.parametrize("faulty", [True, False], ids=["erroring-canary", "good-canary"])
def test_kserve_mode_decides_through_promql(
    world: World,
    prometheus_url: str,
    fake_api: tuple[FakeKubernetes, str],
    crd_schema_dir: Path,
    faulty: bool,
) -> None:
    api, api_url = fake_api
    champion_v, canary_v = world.versions[1], world.versions[0]
    client = world.client()
    aliases.promote(client, MODEL, champion_v, "test setup")
    champion = world.serve(champion_v, name=f"kserve-mode-champion-{faulty}")
    if faulty:
        # Faults come from the canary's own config file only (never the environment).
        canary = _serve_with_faults(world, canary_v, 0.5, f"kserve-mode-canary-{faulty}")
    else:
        canary = world.serve(canary_v, name=f"kserve-mode-canary-{faulty}")
    for server in (champion, canary):
        world.stack.register_target(server.name, server.port)
    backend = KServeBackend(
        MODEL, NS, api_client=k8s.ApiClient(k8s.Configuration(host=api_url)),
        crd_schema_dir=crd_schema_dir, ready_timeout=5, poll_interval=0.01,
    )  # fmt: skip
    backend.create(_isvc(champion_v, world.run_ids[champion_v]))
    settings = RolloutSettings(
        steps=[10, 50, 100], window_seconds=3, check_interval_seconds=0.5, min_requests=10,
        max_extensions=3, max_error_rate_increase=0.05, max_p99_ratio=3, p99_ratio_floor_ms=50,
        # The score gate off: this test is about the PromQL error and latency decisions in
        # KServe mode; the two small test models' scores differ by a PSI of 0.3 to 1.5 from
        # run to run, and the gate has its own real-server test in test_local_rollout.
        max_p99_ms=250, max_score_psi=None,
    )  # fmt: skip
    prometheus = PrometheusClient(prometheus_url)
    controller = _controller(settings, backend, prometheus, client)
    try:
        with SplitLoad(api, champion, canary) as load:
            outcome = controller.run(_target(world, canary_v), _target(world, champion_v))
    finally:
        prometheus.close()
        for server in (champion, canary):
            world.stack.unregister_target(server.name)
            server.stop()
    isvc = api.objects[(NS, MODEL)]
    if faulty:
        assert outcome.decision == "rolled_back", outcome.reason
        assert aliases.version_by_alias(client, MODEL, aliases.CHAMPION).version == champion_v
        assert model_of(isvc)["version"] == champion_v  # the previous model restored
        percents = [
            p["spec"]["predictor"]["canaryTrafficPercent"]
            for p in backend.sent
            if "canaryTrafficPercent" in p.get("spec", {}).get("predictor", {})
        ]
        assert percents[:2] == [10, 0]
        assert 500 in load.codes
    else:
        assert outcome.decision == "promoted", outcome.reason
        assert aliases.version_by_alias(client, MODEL, aliases.CHAMPION).version == canary_v
        assert model_of(isvc)["version"] == canary_v
        assert "canaryTrafficPercent" not in isvc["spec"]["predictor"]
        assert set(load.codes) == {200}
    assert outcome.decision in isvc["metadata"]["annotations"][A_DECISION]


def test_losing_prometheus_mid_rollout_rolls_back(
    world: World, fake_api: tuple[FakeKubernetes, str], crd_schema_dir: Path
) -> None:
    from slipway.errors import PrometheusError
    from slipway.local.processes import free_port

    api, api_url = fake_api
    champion_v, canary_v = world.versions[1], world.versions[0]
    client = world.client()
    aliases.promote(client, MODEL, champion_v, "test setup")
    backend = KServeBackend(
        MODEL, NS, api_client=k8s.ApiClient(k8s.Configuration(host=api_url)),
        crd_schema_dir=crd_schema_dir, ready_timeout=5, poll_interval=0.01,
    )  # fmt: skip
    backend.create(_isvc(champion_v, world.run_ids[champion_v]))
    dead = PrometheusClient(f"http://127.0.0.1:{free_port()}")  # nothing listens there
    controller = _controller(RolloutSettings(window_seconds=1), backend, dead, client)
    with pytest.raises(PrometheusError):
        controller.run(_target(world, canary_v), _target(world, champion_v))
    dead.close()
    isvc = api.objects[(NS, MODEL)]
    assert model_of(isvc)["version"] == champion_v
    assert "canaryTrafficPercent" not in isvc["spec"]["predictor"]
    tags = client.get_model_version(MODEL, canary_v).tags
    assert tags["slipway.rollout.analysis"] == "rolled_back"
    assert "PrometheusError" in tags["slipway.rollout.reason"]
    assert aliases.version_by_alias(client, MODEL, aliases.CHAMPION).version == champion_v
