"""The local stack's S3 endpoint, as a user meets it: ``slipway local up`` in a subprocess.

The S3 is moto's server (a managed process of the stack), standing in for AWS S3 on one
machine; MLflow keeps its artifacts in the stack's bucket (``--artifacts-in-s3``), and the
pipeline reads ``s3://`` data with nothing in its environment but what the stack gives.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from slipway.data import synthetic, tables
from slipway.local.stack import (
    ARTIFACTS_BUCKET,
    DATASETS_BUCKET,
    S3_ARTIFACTS_DESTINATION,
    LocalStack,
    s3_environment,
)
from slipway.runtime import Runtime

pytestmark = pytest.mark.integration

AWS = ("AWS_", "MLFLOW_", "S3_", "SLIPWAY_")


def _slipway(*args: str, state: Path) -> subprocess.CompletedProcess[str]:
    # Nothing of the developer's AWS or MLflow setup: all comes from the stack.
    env = {k: v for k, v in os.environ.items() if not k.startswith(AWS)}
    env |= {
        "AWS_EC2_METADATA_DISABLED": "true",
        "SLIPWAY_TRAINING__EPOCHS": "3",
        "SLIPWAY_TRAINING__PROGRESS": "false",
        "SLIPWAY_GATE__MIN_ACCURACY": "0.5",
        "SLIPWAY_GATE__MIN_ROC_AUC": "0.5",
        "SLIPWAY_GATE__MIN_F1": "0.0",
        "SLIPWAY_GATE__MAX_LOG_LOSS": "1.0",
    }
    return subprocess.run(
        [sys.executable, "-m", "slipway.cli", *args, "--state-dir", str(state)],
        capture_output=True, text=True, timeout=600, env=env, check=False,
    )  # fmt: skip


def test_local_up_serves_s3_and_mlflow_keeps_artifacts_in_its_bucket(tmp_path: Path) -> None:
    state = tmp_path / "state"
    try:
        up = _slipway("local", "up", "--artifacts-in-s3", state=state)
        assert up.returncode == 0, up.stderr[-3000:]
        stack = LocalStack(state)
        endpoint = stack.s3_endpoint()
        assert endpoint is not None and endpoint.startswith("http://127.0.0.1:")
        assert "s3 " in up.stdout
        assert stack.artifacts_destination() == S3_ARTIFACTS_DESTINATION
        env = s3_environment(endpoint)
        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            region_name=env["AWS_DEFAULT_REGION"],
        )
        names = {b["Name"] for b in s3.list_buckets()["Buckets"]}
        assert {DATASETS_BUCKET, ARTIFACTS_BUCKET} <= names
        # The stack's state names no credential: clients get them from the runtime.
        assert env["AWS_SECRET_ACCESS_KEY"] not in (state / "stack.json").read_text()

        frame = synthetic.generate(800, seed=9)
        local = tmp_path / "churn.csv"
        tables.write_table(frame, local)
        s3.put_object(Bucket=DATASETS_BUCKET, Key="churn/churn.csv", Body=local.read_bytes())
        uri = f"s3://{DATASETS_BUCKET}/churn/churn.csv"

        digest = _slipway("data", "digest", uri, state=state)
        assert digest.returncode == 0, digest.stderr[-2000:]
        assert digest.stdout.strip() == tables.table_digest(frame)

        run = _slipway("pipeline", "run", "--data", uri, state=state)
        assert run.returncode == 0, run.stderr[-3000:]
        assert "churn-classifier version 1" in run.stdout
        stored = s3.list_objects_v2(Bucket=ARTIFACTS_BUCKET, Prefix="mlflow/")
        keys = [o["Key"] for o in stored.get("Contents", [])]
        assert any(k.endswith("/MLmodel") for k in keys), keys[:20]

        # The runtime resolves the artifact destination from the stack.
        assert Runtime.load(None, state).artifacts_destination() == S3_ARTIFACTS_DESTINATION
    finally:
        down = _slipway("local", "down", state=state)
    assert down.returncode == 0
    assert "s3" in down.stdout
    assert LocalStack(state).services() == {}
    assert not (state / "storage.json").exists()


def test_the_runtime_leaves_an_environment_with_its_own_s3_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On the cluster the pod's environment (IRSA) names the credentials: the stack is not
    asked, and nothing is added."""
    monkeypatch.setenv("AWS_ROLE_ARN", "arn:aws:iam::000000000000:role/example")
    assert Runtime.load(None, tmp_path / "nothing").storage_environment() == {}
    monkeypatch.delenv("AWS_ROLE_ARN")
    for name in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID"):
        monkeypatch.delenv(name, raising=False)
    # No stack running: nothing to add either.
    assert Runtime.load(None, tmp_path / "nothing").storage_environment() == {}
