"""The loop against MLflow with a PostgreSQL backend store, as on the cluster.

A real PostgreSQL from Debian's binaries; without them the test skips, unless
``REQUIRE_POSTGRES=1`` (set by .ci/run) makes that a failure.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from slipway.local.processes import free_port
from slipway.local.stack import start_mlflow
from slipway.pipeline.steps import run_pipeline
from slipway.registry.aliases import CHAMPION, version_by_alias

from .conftest import fast_settings
from .postgres import Postgres, start_postgres

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    # Not under pytest's tmp folder: as root, the server runs as `postgres`, which cannot
    # enter root's private 0700 folders.
    base = Path(tempfile.mkdtemp(prefix="slipway-pg-"))
    base.chmod(0o755)
    try:
        server = start_postgres(base / "pg", free_port())
    except (FileNotFoundError, KeyError) as exc:
        if os.environ.get("REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required (REQUIRE_POSTGRES=1) but unavailable: {exc}")
        pytest.skip(f"PostgreSQL binaries unavailable: {exc}")
    yield server
    server.stop()
    shutil.rmtree(base, ignore_errors=True)


def test_pipeline_on_postgres_backed_mlflow(
    postgres: Postgres,
    tmp_path: Path,
    demo_files: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = start_mlflow(tmp_path / "state", backend_store_uri=postgres.uri)
    try:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
        mlflow.set_tracking_uri(server.url)
        client = MlflowClient(server.url)
        train, reference = demo_files
        result = run_pipeline(client, fast_settings("pg-model"), train, reference)
        assert result.registration is not None
        champion = version_by_alias(client, "pg-model", CHAMPION)
        assert champion is not None
        assert champion.version == result.registration.version
        assert champion.tags["slipway.data.digest"] == result.report.digest
    finally:
        server.stop()
    # The registry lives in PostgreSQL, not in the state folder: a fresh server over the
    # same database still knows the champion.
    again = start_mlflow(tmp_path / "state2", backend_store_uri=postgres.uri)
    try:
        client = MlflowClient(again.url)
        restored = version_by_alias(client, "pg-model", CHAMPION)
        assert restored is not None
        assert restored.version == result.registration.version
    finally:
        again.stop()
    assert not (tmp_path / "state" / "mlflow" / "mlflow.db").exists()
