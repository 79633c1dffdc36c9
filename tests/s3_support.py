"""A real S3 API for tests: moto's server, started the way ``slipway local up`` starts it.

Moto stands in for AWS S3 on one machine: it speaks the S3 REST API over HTTP on a loopback
port, so pyarrow's S3 filesystem, boto3, MLflow and KServe's storage code talk to it exactly
as they would to AWS. It accepts any credentials; the stack's local values are used.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from slipway.local.processes import Managed
from slipway.local.stack import ARTIFACTS_BUCKET, DATASETS_BUCKET, s3_environment, start_s3

# Variables through which a developer's own AWS setup could leak into a test.
AWS_VARIABLES = (
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
    "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "MLFLOW_S3_ENDPOINT_URL", "S3_ENDPOINT",
)  # fmt: skip


@dataclass(frozen=True)
class S3:
    server: Managed
    datasets: str = DATASETS_BUCKET
    artifacts: str = ARTIFACTS_BUCKET

    @property
    def endpoint(self) -> str:
        return self.server.url

    def environment(self) -> dict[str, str]:
        return s3_environment(self.endpoint)

    def client(self) -> Any:
        import boto3

        env = self.environment()
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            region_name=env["AWS_DEFAULT_REGION"],
        )

    def put(self, key: str, body: bytes, bucket: str | None = None) -> str:
        self.client().put_object(Bucket=bucket or self.datasets, Key=key, Body=body)
        return f"s3://{bucket or self.datasets}/{key}"

    def upload(self, path: Path, key: str | None = None) -> str:
        return self.put(key or path.name, path.read_bytes())


def start_session_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3]:
    server = start_s3(tmp_path_factory.mktemp("s3-state"))
    try:
        yield S3(server)
    finally:
        server.stop()


def use_s3(monkeypatch: pytest.MonkeyPatch, s3: S3) -> None:
    """This test's environment: the stand-in's endpoint and local credentials, nothing of
    the developer's, and no instance metadata service to wait for."""
    for name in AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name, value in s3.environment().items():
        monkeypatch.setenv(name, value)
