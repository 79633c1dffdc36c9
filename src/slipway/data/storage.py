"""Where a step's data lives: a local path or an ``s3://bucket/key`` URI, read as bytes.

Steps take their data as a URI so that the same command reads a file on a laptop and an
object in the datasets bucket on the cluster. S3 is read with pyarrow's S3 filesystem (the
AWS SDK for C++ underneath), configured only from the standard environment:

- endpoint: ``AWS_ENDPOINT_URL_S3``, then ``AWS_ENDPOINT_URL`` (unset: AWS itself); the
  local stack sets them to its S3 stand-in;
- credentials: the AWS default chain (environment variables, the web-identity token that
  IRSA mounts in a pod, the instance profile). Nothing here reads a credentials file of
  the repository, and no credential is ever passed as an argument.

Every failure is a ``DataError`` that names the URI and says what is wrong (no such
object, no such bucket, no credentials, unreadable), so a step fails before it records
anything it cannot stand behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal
from urllib.parse import urlparse

from slipway.config import environ
from slipway.errors import DataError

DataUri = str | Path
"""What a step takes as its data: a local path, or a URI string (``s3://`` or a path)."""

# Seconds; the SDK's defaults wait minutes on an unreachable endpoint, which would leave a
# step pod hanging instead of failing with the URI in its message.
CONNECT_TIMEOUT = 10.0
REQUEST_TIMEOUT = 60.0


@dataclass(frozen=True)
class DataLocation:
    """A parsed data URI: a local file, or an object in an S3 bucket."""

    uri: str
    scheme: Literal["file", "s3"]
    path: Path | None = None
    bucket: str = ""
    key: str = ""

    @classmethod
    def parse(cls, value: DataUri) -> DataLocation:
        if isinstance(value, Path):
            return cls(str(value), "file", path=value)
        text = value.strip()
        if not text:
            raise DataError("empty data URI (give a path or s3://bucket/key)")
        parsed = urlparse(text)
        if parsed.scheme in ("", "file"):
            path = Path(parsed.path if parsed.scheme == "file" else text)
            return cls(str(path), "file", path=path)
        if parsed.scheme != "s3":
            raise DataError(
                f"{text}: unsupported URI scheme {parsed.scheme!r} (use a path or s3://bucket/key)"
            )
        key = parsed.path.lstrip("/")
        if not parsed.netloc or not key or key.endswith("/"):
            raise DataError(f"{text}: an S3 URI names one object: s3://bucket/key")
        return cls(text, "s3", bucket=parsed.netloc, key=key)

    @property
    def source_uri(self) -> str:
        """Where the data is, for a record that outlives the working folder: an absolute
        path for a local file, the URI itself for an object."""
        return str(self.path.resolve()) if self.path is not None else self.uri

    @property
    def name(self) -> str:
        """The file or object name (``train.csv``)."""
        return self.path.name if self.path is not None else PurePosixPath(self.key).name

    @property
    def suffix(self) -> str:
        return PurePosixPath(self.name).suffix.lower()

    @property
    def stem(self) -> str:
        return PurePosixPath(self.name).stem

    def __str__(self) -> str:
        return self.uri


def s3_endpoint() -> str | None:
    """The S3 endpoint the standard variables name (none: AWS's own)."""
    env = environ()
    return env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL") or None


def _environment_keys() -> dict[str, str]:
    """Keys set in the environment (the running step's included), passed on explicitly: the
    SDK under pyarrow reads only the process's own variables."""
    env = environ()
    key, secret = env.get("AWS_ACCESS_KEY_ID"), env.get("AWS_SECRET_ACCESS_KEY")
    if not (key and secret):
        return {}
    token = env.get("AWS_SESSION_TOKEN")
    return {"access_key": key, "secret_key": secret} | ({"session_token": token} if token else {})


def _require_credentials(location: DataLocation) -> None:
    # pyarrow's SDK would fall through to the instance metadata service and then fail with
    # a bare "access denied" (or hang on a machine without one); botocore walks the same
    # default chain and says plainly that nothing was found.
    if _environment_keys():
        return
    import botocore.session  # type: ignore[import-untyped]

    if botocore.session.get_session().get_credentials() is None:
        raise DataError(
            f"{location}: no AWS credentials (the environment's AWS_ACCESS_KEY_ID/"
            "AWS_SECRET_ACCESS_KEY, an IRSA web-identity token, or an instance profile); "
            "on the local stack run `slipway local up`"
        )


def _s3_filesystem() -> Any:
    from pyarrow import fs

    endpoint = s3_endpoint()
    env = environ()
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    return fs.S3FileSystem(
        endpoint_override=endpoint,
        **({"region": region} if region else {}),
        **_environment_keys(),
        connect_timeout=CONNECT_TIMEOUT,
        request_timeout=REQUEST_TIMEOUT,
    )


def _read_s3(location: DataLocation) -> bytes:
    from pyarrow import fs

    _require_credentials(location)
    s3 = _s3_filesystem()
    path = f"{location.bucket}/{location.key}"
    try:
        info = s3.get_file_info(path)
        if info.type == fs.FileType.NotFound:
            bucket = s3.get_file_info(location.bucket)
            if bucket.type == fs.FileType.NotFound:
                raise DataError(f"{location}: no bucket {location.bucket!r} at {_where()}")
            raise DataError(f"{location}: no such object in bucket {location.bucket!r}")
        if info.type != fs.FileType.File:
            raise DataError(f"{location}: not an object (a prefix?)")
        if info.size == 0:
            raise DataError(f"{location}: the object is empty")
        with s3.open_input_stream(path) as stream:
            data: bytes = stream.read()
    except OSError as exc:  # pyarrow raises OSError for every S3 error it gets back
        raise DataError(f"{location}: cannot read from {_where()} ({exc})") from exc
    return data


def _where() -> str:
    return s3_endpoint() or "AWS S3"


def read_bytes(location: DataLocation) -> bytes:
    """The whole content of the file or object; any failure is a DataError naming it."""
    if location.path is not None:
        path = location.path
        if not path.is_file():
            raise DataError(f"{location}: no such file")
        if path.stat().st_size == 0:
            raise DataError(f"{location}: the file is empty")
        return path.read_bytes()
    return _read_s3(location)
