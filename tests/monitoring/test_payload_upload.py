"""The cluster's way: closed payload files uploaded to the datasets bucket and read back from
it. moto's S3 server stands in for AWS S3 (the real boto3 client talks to it over HTTP)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from slipway.config import PayloadSettings
from slipway.monitoring import payloads
from slipway.serving.payload_log import PayloadLog, upload, version_directory

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from s3_support import S3, start_session_s3, use_s3

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3]:
    yield from start_session_s3(tmp_path_factory)


def test_closed_files_go_to_the_bucket(
    s3: S3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_s3(monkeypatch, s3)
    uri = f"s3://{s3.datasets}/payloads"
    settings = PayloadSettings(
        directory=tmp_path, sample_rate=1.0, flush_seconds=60, max_file_bytes=4096, upload_uri=uri
    )
    log = PayloadLog("churn", "2", ("a", "b"), settings)
    for i in range(40):
        log.record([[float(i), "x"]] * 10, np.full(10, 0.5), f"r{i}")
        log.flush()
    log.close()
    assert list(version_directory(tmp_path, "churn", "2").glob("*.jsonl")) == []
    keys = [o["Key"] for o in s3.client().list_objects_v2(Bucket=s3.datasets)["Contents"]]
    assert len(keys) >= 2 and all(k.startswith("payloads/churn/2/payloads-") for k in keys)
    served = payloads.read_s3(uri, "churn", "2")
    assert len(served) == 400
    assert served["request_id"].iloc[-1] == "r39"


def test_an_upload_uri_that_is_not_s3_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "f.jsonl"
    path.write_text("{}\n")
    with pytest.raises(ValueError, match="must be s3://bucket/prefix"):
        upload(path, "gs://bucket/x", "m", "1")
