"""Files that must survive two commands at once and a crash mid-write.

``write_atomic`` writes to a unique temporary file in the same folder, fsyncs it, renames it
over the target and fsyncs the folder: a reader sees the old content or the new, never half.
``locked`` serialises read-modify-write cycles between processes with a lock file beside the
target (``filelock``), so two commands cannot both read the old state and lose one update.
``read_json`` names the file and what to do when it is unreadable.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

# Long enough for a slow disk, short enough that a stuck holder is reported, not waited on.
LOCK_TIMEOUT_S = 30.0


def _fsync_dir(folder: Path) -> None:
    # The rename is durable only once the folder's entry is on disk.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # some filesystems do not open folders; the rename still happened
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _mode_for(path: Path) -> int:
    # mkstemp makes its file 0600; the result keeps the mode of the file it replaces, or gets
    # what a plain open() would give (0666 less the umask), so a data file stays readable by
    # the user a container step runs as.
    try:
        return path.stat().st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` all at once. On failure (a full disk), the old content
    stays and no temporary file is left behind. The file keeps its mode (a new one gets the
    umask's)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = _mode_for(path)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def write_json(path: Path, obj: Any) -> None:
    """``write_atomic`` of ``obj`` as indented JSON (``default=str`` for paths and times)."""
    write_atomic(path, json.dumps(obj, indent=2, default=str).encode("utf-8"))


def read_json(path: Path, what: str, remedy: str = "remove it") -> Any | None:
    """The JSON in ``path``, or None when there is no file. An unreadable file raises
    ``ValueError`` naming ``what``, the path and ``remedy``; callers wrap it in their own
    error type."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ValueError(f"corrupt {what} {path}: {exc}; {remedy}") from exc


@contextlib.contextmanager
def locked(path: Path, timeout_s: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Hold ``<path>.lock`` for a read-modify-write of ``path``. Raises ``TimeoutError``
    naming the lock file when another process holds it for longer than ``timeout_s``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lock_path = path.with_name(f"{path.name}.lock")
    lock = FileLock(lock_path, timeout=timeout_s)
    try:
        lock.acquire()
    except Timeout as exc:
        raise TimeoutError(
            f"{lock_path} is held by another slipway command for over {timeout_s:.0f}s; "
            "wait for it, or remove the lock file if no slipway command is running"
        ) from exc
    try:
        yield
    finally:
        lock.release()
