"""Tables from URIs: a local path or ``s3://bucket/key``, read with pyarrow's S3 filesystem.

The S3 here is moto's server in its own process (``slipway.local.stack.start_s3``, what
``slipway local up`` runs), standing in for AWS S3 on one machine: real HTTP, the real S3
API, real pyarrow and botocore on the client side. Nothing is mocked.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from s3_support import S3, start_session_s3, use_s3

from slipway.data import synthetic, tables
from slipway.data.storage import DataLocation
from slipway.errors import DataError


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3]:
    yield from start_session_s3(tmp_path_factory)


@pytest.fixture(scope="module")
def same_table(s3: S3, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str | Path]:
    """One table in four places: local CSV, local Parquet, S3 CSV, S3 Parquet."""
    folder = tmp_path_factory.mktemp("tables")
    frame = synthetic.generate(300, seed=11)
    csv, parquet = folder / "churn.csv", folder / "churn.parquet"
    tables.write_table(frame, csv)
    tables.write_table(frame, parquet)
    return {
        "local csv": csv,
        "local parquet": parquet,
        "s3 csv": s3.upload(csv, "churn/2026-12/churn.csv"),
        "s3 parquet": s3.upload(parquet, "churn/2026-12/churn.parquet"),
    }


@pytest.fixture
def env(s3: S3, monkeypatch: pytest.MonkeyPatch) -> S3:
    use_s3(monkeypatch, s3)
    return s3


def test_the_digest_is_the_same_wherever_the_content_lives(
    env: S3, same_table: dict[str, str | Path]
) -> None:
    digests = {
        where: tables.table_digest(tables.read_table(src)) for where, src in same_table.items()
    }
    assert len(set(digests.values())) == 1, digests
    # A plain string path reads like a Path.
    assert tables.table_digest(tables.read_table(str(same_table["local csv"]))) == digests["s3 csv"]


def test_a_changed_value_in_the_bucket_changes_the_digest(env: S3) -> None:
    frame = synthetic.generate(50, seed=3)
    before = env.put("changed.csv", frame.to_csv(index=False).encode())
    digest = tables.table_digest(tables.read_table(before))
    frame.loc[7, "age"] += 1
    env.put("changed.csv", frame.to_csv(index=False).encode())
    assert tables.table_digest(tables.read_table(before)) != digest


def test_the_generic_endpoint_variable_works_too(
    env: S3, same_table: dict[str, str | Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3")
    monkeypatch.setenv("AWS_ENDPOINT_URL", env.endpoint)
    assert len(tables.read_table(same_table["s3 parquet"])) == 300


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("s3://slipway-datasets/churn/none.csv", "no such object in bucket 'slipway-datasets'"),
        ("s3://no-such-bucket-here/churn.csv", "no bucket 'no-such-bucket-here'"),
        ("s3://slipway-datasets/churn/2026-12/", "an S3 URI names one object"),
        ("s3://slipway-datasets/churn/data.json", "unsupported file type '.json'"),
        ("gs://bucket/churn.csv", "unsupported URI scheme 'gs'"),
        ("s3:///churn.csv", "an S3 URI names one object"),
    ],
)
def test_bad_uris_fail_naming_the_uri_and_the_fault(env: S3, uri: str, message: str) -> None:
    with pytest.raises(DataError) as err:
        tables.read_table(uri)
    assert uri in str(err.value)
    assert message in str(err.value)


@pytest.mark.parametrize(
    ("key", "body", "message"),
    [
        ("broken.parquet", b"PAR1 not parquet at all", "unreadable parquet"),
        ("binary.csv", b"\x00\xff\xfe\x00garbage\x00", "unreadable csv"),
        ("header-only.csv", b"a,b\n", "no rows"),
        ("empty.csv", b"", "the object is empty"),
    ],
)
def test_unreadable_objects_fail_naming_the_uri(
    env: S3, key: str, body: bytes, message: str
) -> None:
    uri = env.put(f"bad/{key}", body)
    with pytest.raises(DataError, match=message) as err:
        tables.read_table(uri)
    assert uri in str(err.value)


def test_absent_credentials_are_named_not_waited_for(
    env: S3, same_table: dict[str, str | Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    uri = str(same_table["s3 csv"])
    with pytest.raises(DataError, match="no AWS credentials") as err:
        tables.read_table(uri)
    assert uri in str(err.value)


def test_an_unreachable_endpoint_is_a_data_error(
    env: S3, same_table: dict[str, str | Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from slipway.local.processes import free_port

    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{free_port()}")
    with pytest.raises(DataError, match=r"cannot read from http://127\.0\.0\.1"):
        tables.read_table(same_table["s3 csv"])


def test_locations_parse_paths_and_objects() -> None:
    s3 = DataLocation.parse("s3://b-1/a/b/train.parquet")
    assert (s3.scheme, s3.bucket, s3.key, s3.name, s3.stem, s3.suffix) == (
        "s3", "b-1", "a/b/train.parquet", "train.parquet", "train", ".parquet",
    )  # fmt: skip
    local = DataLocation.parse("data/train.CSV")
    assert (local.scheme, local.path, local.suffix) == ("file", Path("data/train.CSV"), ".csv")
    assert local.source_uri == str(Path("data/train.CSV").resolve())
    assert s3.source_uri == "s3://b-1/a/b/train.parquet"
    assert DataLocation.parse("file:///tmp/x.csv").path == Path("/tmp/x.csv")
    with pytest.raises(DataError, match="empty data URI"):
        DataLocation.parse("  ")
