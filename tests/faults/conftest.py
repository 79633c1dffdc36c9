"""Real servers for the fault-injection suite: an MLflow tracking server (SQLite) of the
suite's own, and demo data. Nothing here is mocked."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from slipway.data import synthetic, tables
from slipway.local.processes import Managed
from slipway.local.stack import start_mlflow

os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


@pytest.fixture(scope="session")
def fault_mlflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Managed]:
    server = start_mlflow(tmp_path_factory.mktemp("faults-mlflow"))
    yield server
    server.stop()


@pytest.fixture
def fault_client(fault_mlflow: Managed, monkeypatch: pytest.MonkeyPatch) -> MlflowClient:
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", fault_mlflow.url)
    mlflow.set_tracking_uri(fault_mlflow.url)
    return MlflowClient(fault_mlflow.url)


@pytest.fixture(scope="session")
def fault_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("faults-data") / "train.csv"
    tables.write_table(synthetic.generate(2000, seed=5), path)
    return path
