"""Real servers for the integration tests: an MLflow tracking server (SQLite) per session.

Nothing here is mocked: the server is ``mlflow server`` in its own process on a loopback
port, exactly what ``slipway local up`` runs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from slipway.config import Settings, load_settings
from slipway.data import synthetic, tables
from slipway.local.processes import Managed
from slipway.local.stack import start_mlflow

os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Managed]:
    server = start_mlflow(tmp_path_factory.mktemp("mlflow-state"))
    yield server
    server.stop()


@pytest.fixture
def client(mlflow_server: Managed, monkeypatch: pytest.MonkeyPatch) -> MlflowClient:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server.url)
    import mlflow

    mlflow.set_tracking_uri(mlflow_server.url)
    return MlflowClient(mlflow_server.url)


def fast_settings(model_name: str, **gate: float) -> Settings:
    """The demo settings with few epochs and a model name of the test's own."""
    base = load_settings()
    return base.model_copy(
        update={
            "training": base.training.model_copy(update={"epochs": 5, "progress": False}),
            "tracking": base.tracking.model_copy(
                update={"model_name": model_name, "experiment": f"test-{model_name}"}
            ),
            "gate": base.gate.model_copy(update=gate),
        }
    )


@pytest.fixture(scope="session")
def demo_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("data")
    train, reference = folder / "train.csv", folder / "reference.parquet"
    tables.write_table(synthetic.generate(3000, seed=1), train)
    tables.write_table(synthetic.generate(3000, seed=2), reference)
    return train, reference
