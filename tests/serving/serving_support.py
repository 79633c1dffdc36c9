"""Shared by tests/serving and tests/rollout: two trained model versions in a real MLflow,
and predictor processes. Nothing is mocked: MLflow, the model servers (KServe's
ModelServer) and Prometheus are the real programs, on loopback ports.

Both folders' conftests import this module by path; the world is built once per session
(module-level cache) and torn down when the last user's session fixture finishes.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from slipway.config import Settings, load_settings
from slipway.data import synthetic, tables
from slipway.local import processes
from slipway.local.processes import Managed, free_port
from slipway.local.stack import LocalStack, start_mlflow
from slipway.pipeline.steps import run_pipeline
from slipway.registry import tracking
from slipway.serving.server import from_registry

os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

MODEL = "churn-classifier"
VALID = {
    "tenure_months": 12.0,
    "monthly_charges": 70.5,
    "support_calls": 2,
    "age": 40,
    "contract": "monthly",
    "region": "north",
    "payment_method": "card",
}


def fast_settings() -> Settings:
    """Demo settings, trained for seconds; the gate is loose because these tests are about
    serving, not model quality."""
    base = load_settings()
    return base.model_copy(
        update={
            "training": base.training.model_copy(update={"epochs": 3, "progress": False}),
            "gate": base.gate.model_copy(
                update={
                    "min_accuracy": 0.5,
                    "min_roc_auc": 0.5,
                    "min_f1": 0.1,
                    "max_log_loss": 2.0,
                    "champion_margin": 1.0,
                }
            ),
        }
    )


@dataclass
class World:
    state: Path
    mlflow: Managed
    settings: Settings
    versions: list[str]
    model_dirs: dict[str, Path]
    run_ids: dict[str, str]
    users: int = 0
    servers: list[Managed] = field(default_factory=list)

    @property
    def stack(self) -> LocalStack:
        return LocalStack(self.state)

    def client(self) -> Any:
        os.environ["MLFLOW_TRACKING_URI"] = self.mlflow.url
        return tracking.connect(self.mlflow.url)

    def serve(self, version: str, env: dict[str, str] | None = None, name: str = "") -> Managed:
        """A predictor process for ``version`` on a free loopback port."""
        port = free_port()
        server = processes.start(
            name or f"predictor-v{version}-{port}",
            [
                sys.executable,
                "-m",
                "slipway.serving",
                "--model-dir",
                str(self.model_dirs[version]),
                "--model-name",
                MODEL,
                "--model-version",
                version,
                "--run-id",
                self.run_ids[version],
                "--http-port",
                str(port),
                "--host",
                "127.0.0.1",
            ],
            port=port,
            health_path=f"/v2/models/{MODEL}/ready",
            log_dir=self.state / "logs",
            env=env or {},
            timeout=120,
        )
        self.servers.append(server)
        return server


@dataclass(frozen=True)
class Target:
    """A predictor to check: its base URL, the model it serves and the version."""

    url: str
    model: str
    version: str
    #: inference through KServe's own routes (serving.lean_http: false)
    kserve_routes: bool = False


#: The version a bundle predictor (serve_bundle) says it serves.
BUNDLE_VERSION = "3"


def serve_bundle(bundle: Path, state: Path, env: dict[str, str]) -> Managed:
    """A predictor process over a bundle folder, on a free loopback port."""
    port = free_port()
    server = processes.start(
        f"predictor-bundle-{port}",
        [
            sys.executable, "-m", "slipway.serving", "--model-dir", str(bundle),
            "--model-name", MODEL, "--model-version", BUNDLE_VERSION, "--run-id", "test-run",
            "--http-port", str(port), "--host", "127.0.0.1",
        ],
        port=port,
        health_path=f"/v2/models/{MODEL}/ready",
        log_dir=state / "logs",
        env=env,
        timeout=120,
    )  # fmt: skip
    return server


_WORLD: World | None = None


def acquire(root: Path) -> World:
    global _WORLD
    if _WORLD is None:
        state = root / "state"
        mlflow = start_mlflow(state)
        LocalStack(state).add(mlflow)
        os.environ["MLFLOW_TRACKING_URI"] = mlflow.url
        settings = fast_settings()
        client = tracking.connect(mlflow.url)
        versions, dirs, runs = [], {}, {}
        for seed in (1, 7):
            data = state / f"train-{seed}.csv"
            tables.write_table(synthetic.generate(2000, seed), data)
            result = run_pipeline(client, settings, data)
            assert result.registration is not None, result.decision
            version = result.registration.version
            source = from_registry(f"models:/{MODEL}/{version}", state / "models", client)
            versions.append(version)
            dirs[version] = source.model_dir
            runs[version] = source.run_id
        _WORLD = World(state, mlflow, settings, versions, dirs, runs)
    _WORLD.users += 1
    return _WORLD


def release(world: World) -> None:
    global _WORLD
    world.users -= 1
    if world.users == 0:
        for server in world.servers:
            server.stop()
        world.stack.down()
        world.mlflow.stop()
        _WORLD = None


def predict_v1(
    url: str, instances: list[Any], client: httpx.Client | None = None
) -> httpx.Response:
    http = client or httpx
    return http.post(f"{url}/v1/models/{MODEL}:predict", json={"instances": instances})


def v2_body(rows: list[dict[str, Any]], request_id: str | None = None) -> dict[str, Any]:
    numeric = {"tenure_months": "FP64", "monthly_charges": "FP64", "support_calls": "INT64",
               "age": "INT64"}  # fmt: skip
    inputs = [
        {
            "name": name,
            "datatype": numeric.get(name, "BYTES"),
            "shape": [len(rows)],
            "data": [row[name] for row in rows],
        }
        for name in VALID
    ]
    body: dict[str, Any] = {"inputs": inputs}
    if request_id is not None:
        body["id"] = request_id
    return body
