"""Payload recording: what the predictor served (inputs, scores, version, time), sampled.

The request path pays for a random draw and, for a sampled request, one append to a deque
(the rows and the scores array are the request's own objects, never copied or encoded
there). A background thread drains the deque every ``flush_seconds`` and writes JSON lines
to the open file of this model version::

    <directory>/<model>/<version>/payloads-<start time>-<pid>-<n>.jsonl

The first line of a file is its header (``{"kind": "header", "model", "version",
"columns"}``: the input names, in the order of each row); every other line is one request
(``{"time", "request_id", "rows", "scores"}``, and for a multiclass model ``"classes"``, the
predicted class of each row; ``scores`` is what the score metric records: P(positive), the
predicted class's probability, or the predicted value, by task). A file past
``max_file_bytes`` is closed and a new one opened; past ``max_files`` closed files, the
oldest are deleted. With ``upload_uri`` (``s3://bucket/prefix``) each closed file is
uploaded under
``<prefix>/<model>/<version>/`` and removed locally: that is the cluster's way (see
docs/monitoring.md for why the predictor writes batches rather than KServe's per-request
payload logger).

A request without a v2 ``id`` gets a generated one; ground truth can be joined later only
to requests whose id the client knows (send v2 requests with an ``id``).
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import random
import threading
import time
import uuid
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np

from slipway.config import PayloadSettings, environ

log = logging.getLogger(__name__)

HEADER = "header"
_SAFE = str.maketrans(dict.fromkeys('/\\:*?"<>| ', "_"))


def default_directory() -> Path:
    """``payloads/`` in the state folder (``SLIPWAY_HOME``, else ``.slipway``)."""
    return Path(environ().get("SLIPWAY_HOME", ".slipway")).resolve() / "payloads"


def version_directory(root: Path, model: str, version: str) -> Path:
    return root / model.translate(_SAFE) / version.translate(_SAFE)


class PayloadLog:
    """Sampled, asynchronous, rotating JSON-lines recording of one model version's traffic."""

    def __init__(
        self,
        model: str,
        version: str,
        columns: Sequence[str],
        settings: PayloadSettings,
        *,
        seed: int | None = None,
    ) -> None:
        self.model, self.version, self.columns = model, version, list(columns)
        self.settings = settings
        self.folder = version_directory(settings.directory or default_directory(), model, version)
        self._random = random.Random(seed).random  # noqa: S311  (sampling, not security)
        self._rate = settings.sample_rate
        self._pending: deque[
            tuple[float, str | None, Sequence[Any], np.ndarray, np.ndarray | None]
        ] = deque()
        self._file: IO[str] | None = None
        self._path: Path | None = None
        self._count = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()  # one drain at a time: the thread's or flush()'s
        self._thread = threading.Thread(target=self._run, name="payload-log", daemon=True)
        self.dropped = 0
        self._thread.start()

    # ------------------------------------------------------------------ the request path

    def record(
        self,
        rows: Sequence[Any],
        scores: np.ndarray,
        request_id: str | None,
        classes: np.ndarray | None = None,
    ) -> None:
        """Note one served request, if the sample draws it (cheap: no encoding here);
        ``classes``: a multiclass model's predicted labels."""
        if self._rate < 1.0 and self._random() >= self._rate:
            return
        self._pending.append((time.time(), request_id, rows, scores, classes))

    # ------------------------------------------------------------------ the writer

    def _run(self) -> None:
        while not self._stop.wait(self.settings.flush_seconds):
            try:
                self.flush()
            except Exception as exc:  # a full disk or a failed upload must not stop serving
                log.warning("payload recording failed: %s", exc)

    def flush(self) -> None:
        """Write everything recorded so far (the thread does this every flush_seconds)."""
        with self._lock:
            if not self._pending:
                return
            lines = []
            while self._pending:
                t, request_id, rows, scores, classes = self._pending.popleft()
                record = {
                    "time": t,
                    "request_id": request_id or uuid.uuid4().hex,
                    "rows": list(rows),
                    "scores": np.asarray(scores, dtype=float).tolist(),
                }
                if classes is not None:
                    record["classes"] = classes.tolist()
                lines.append(
                    json.dumps(
                        record,
                        separators=(",", ":"),
                        default=_plain,
                    )
                )
            handle = self._open()
            handle.write("\n".join(lines) + "\n")
            handle.flush()
            if handle.tell() >= self.settings.max_file_bytes:
                self._rotate()

    def _open(self) -> IO[str]:
        if self._file is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._count += 1
            stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
            self._path = self.folder / f"payloads-{stamp}-{os.getpid()}-{self._count}.jsonl"
            self._file = self._path.open("a", encoding="utf-8")
            header = {
                "kind": HEADER,
                "model": self.model,
                "version": self.version,
                "columns": self.columns,
            }
            self._file.write(json.dumps(header) + "\n")
        return self._file

    def _rotate(self) -> None:
        """Close the open file; upload it (with upload_uri) or prune the oldest ones."""
        if self._file is None or self._path is None:
            return
        self._file.close()
        closed, self._file, self._path = self._path, None, None
        if self.settings.upload_uri:
            upload(closed, self.settings.upload_uri, self.model, self.version)
            closed.unlink()
            return
        files = sorted(self.folder.glob("payloads-*.jsonl"), key=lambda p: p.stat().st_mtime)
        for old in files[: max(0, len(files) - self.settings.max_files)]:
            old.unlink(missing_ok=True)

    def close(self) -> None:
        """Stop the thread, write what is left and close (and upload) the open file."""
        self._stop.set()
        self._thread.join(timeout=10)
        self.flush()
        with self._lock:
            self._rotate()


def _plain(value: Any) -> Any:
    """A numpy scalar (a binary tensor's element) as its Python value."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot record a {type(value).__name__}")


def upload(path: Path, uri: str, model: str, version: str) -> str:
    """Put ``path`` under ``uri`` (``s3://bucket/prefix``)/model/version/; returns the key."""
    if not uri.startswith("s3://"):
        raise ValueError(f"monitoring.payloads.upload_uri must be s3://bucket/prefix, not {uri!r}")
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    key = "/".join(p for p in (prefix.strip("/"), model, version, path.name) if p)
    import boto3  # type: ignore[import-untyped]  # only with upload_uri (the cluster)

    boto3.client("s3").upload_file(str(path), bucket, key)
    return key


def from_settings(
    model: str, version: str, columns: Sequence[str], settings: PayloadSettings
) -> PayloadLog | None:
    """A PayloadLog when recording is on (``sample_rate`` above 0), else None; what is
    still pending is written when the process exits."""
    if settings.sample_rate <= 0:
        return None
    payloads = PayloadLog(model, version, columns, settings)
    atexit.register(payloads.close)
    return payloads
