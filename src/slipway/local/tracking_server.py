"""The local stack's tracking servers: MLflow, and the S3 endpoint standing in for AWS S3.

The S3 endpoint is moto's server (``python -m moto.server``): moto stands in for AWS S3 on
one machine, speaking the same API, so that steps read ``s3://`` data and KServe's storage
code downloads models exactly as on the cluster. It keeps objects in memory: they are gone
after ``slipway local down``. It has two buckets, one for datasets and one for MLflow's
artifacts (used when the stack starts with ``artifacts_in_s3``; the SQLite database then
refers to objects that a restart forgets, which is why the folder stays the default). Moto
accepts any credentials; the stack gives its clients the fixed local values below, which
open nothing anywhere else. slipway.local.stack starts and records them.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import httpx

from slipway.errors import StackError
from slipway.local.processes import Managed, free_port, start

MLFLOW = "mlflow"
S3 = "s3"
DATASETS_BUCKET = "slipway-datasets"
ARTIFACTS_BUCKET = "slipway-artifacts"
S3_ARTIFACTS_DESTINATION = f"s3://{ARTIFACTS_BUCKET}/mlflow"
# Moto checks no signature: these fixed values only satisfy the AWS SDKs' need for some
# credentials. They are local test values, not secrets, and never go into a manifest.
LOCAL_S3_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "slipway-local",
    "AWS_SECRET_ACCESS_KEY": "slipway-local",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def s3_environment(endpoint: str) -> dict[str, str]:
    """What an S3 client of the local stack needs: the endpoint and the local credentials.

    ``AWS_ENDPOINT_URL_S3`` for pyarrow and the AWS SDKs, ``MLFLOW_S3_ENDPOINT_URL`` for
    MLflow's server, ``S3_ENDPOINT``/``S3_USE_HTTPS`` for KServe's storage code."""
    return {
        **LOCAL_S3_CREDENTIALS,
        "AWS_ENDPOINT_URL_S3": endpoint,
        "MLFLOW_S3_ENDPOINT_URL": endpoint,
        "S3_ENDPOINT": endpoint.removeprefix("http://"),
        "S3_USE_HTTPS": "0",
    }


def start_s3(
    state_dir: Path, buckets: tuple[str, ...] = (DATASETS_BUCKET, ARTIFACTS_BUCKET)
) -> Managed:
    """Moto's S3 server on a free loopback port, with ``buckets`` created."""
    if importlib.util.find_spec("moto") is None:
        raise StackError("the local S3 needs moto's server: install slipway's `local` extra")
    port = free_port()
    server = start(
        S3,
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        port=port,
        health_path="/moto-api/",
        log_dir=state_dir / "logs",
        timeout=60.0,
    )
    try:
        create_buckets(server.url, buckets)
    except BaseException:
        server.stop()
        raise
    return server


def create_buckets(endpoint: str, buckets: tuple[str, ...]) -> None:
    # A plain PUT creates a bucket on moto (it checks no signature); importing boto3 for
    # this would cost the stack's start a second on a loaded machine.
    for bucket in buckets:
        response = httpx.put(f"{endpoint}/{bucket}", timeout=10.0)
        if response.status_code != 200:
            raise StackError(f"the local S3 refused bucket {bucket}: HTTP {response.status_code}")


def mlflow_command(port: int, backend_store_uri: str, artifacts: Path | str) -> list[str]:
    return [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", backend_store_uri,
        "--artifacts-destination", str(artifacts),
        "--serve-artifacts",
        "--host", "127.0.0.1",
        "--port", str(port),
        "--workers", "1",
    ]  # fmt: skip


def start_mlflow(
    state_dir: Path,
    backend_store_uri: str | None = None,
    s3_endpoint: str | None = None,
    artifacts_destination: str | None = None,
) -> Managed:
    """An MLflow tracking server on a free loopback port, proxying artifacts to a folder,
    or to ``artifacts_destination`` (``s3://...``) on the S3 at ``s3_endpoint``. Only the
    server gets the S3 endpoint and credentials: its clients go through its proxy."""
    data = state_dir / MLFLOW
    data.mkdir(parents=True, exist_ok=True)
    backend = backend_store_uri or f"sqlite:///{data / 'mlflow.db'}"
    env = {
        "MLFLOW_TRACKING_URI": "",
        # MLflow 3's server runs a job executor (huey: seven consumer processes) for GenAI
        # jobs that slipway never submits; off, the stack's MLflow is two processes, and it
        # starts in about a third of the time on a loaded two-core machine.
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    }
    if artifacts_destination is not None:
        if s3_endpoint is None:
            raise StackError(f"artifacts in {artifacts_destination} need the local S3 endpoint")
        env |= s3_environment(s3_endpoint)
    port = free_port()
    return start(
        MLFLOW,
        mlflow_command(port, backend, artifacts_destination or data / "artifacts"),
        port=port,
        health_path="/health",
        log_dir=state_dir / "logs",
        env=env,
        timeout=120.0,
    )
