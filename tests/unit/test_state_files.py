"""slipway.state_files on a real filesystem: atomic replace, no leftovers on failure, the lock
between processes, and a clear error for a corrupt file."""

from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path

import pytest

from slipway import state_files


def test_write_json_replaces_whole_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "state" / "stack.json"
    state_files.write_json(target, {"a": 1})
    state_files.write_json(target, {"a": 2, "b": [1, 2]})
    assert state_files.read_json(target, "stack state") == {"a": 2, "b": [1, 2]}
    assert sorted(p.name for p in target.parent.iterdir()) == ["stack.json"]


def test_failed_write_keeps_old_content_and_removes_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "stack.json"
    state_files.write_json(target, {"old": True})

    def full_disk(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space"):
        state_files.write_json(target, {"new": True})
    monkeypatch.undo()
    assert state_files.read_json(target, "stack state") == {"old": True}
    assert [p.name for p in tmp_path.iterdir()] == ["stack.json"]


def test_read_json_names_the_file_and_the_remedy(tmp_path: Path) -> None:
    target = tmp_path / "rollout.json"
    assert state_files.read_json(target, "rollout state") is None
    target.write_text('{"half": ', encoding="utf-8")
    with pytest.raises(ValueError, match=r"corrupt rollout state .*rollout.json.*; remove it"):
        state_files.read_json(target, "rollout state")


def _add_one(path: str, rounds: int) -> None:
    target = Path(path)
    for _ in range(rounds):
        with state_files.locked(target):
            value = state_files.read_json(target, "counter") or {"n": 0}
            time.sleep(0.001)  # widen the window a lost update needs
            state_files.write_json(target, {"n": value["n"] + 1})


def test_lock_serialises_read_modify_write_between_processes(tmp_path: Path) -> None:
    target = tmp_path / "counter.json"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_add_one, args=(str(target), 25)) for _ in range(3)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    assert state_files.read_json(target, "counter") == {"n": 75}


def test_lock_held_elsewhere_times_out_naming_the_lock(tmp_path: Path) -> None:
    target = tmp_path / "stack.json"
    with state_files.locked(target):
        ctx = multiprocessing.get_context("spawn")
        proc = ctx.Process(target=_try_lock, args=(str(target),))
        proc.start()
        proc.join(60)
    assert proc.exitcode == 3


def _try_lock(path: str) -> None:
    try:
        with state_files.locked(Path(path), timeout_s=0.2):
            raise SystemExit(0)
    except TimeoutError as exc:
        raise SystemExit(3 if "stack.json.lock" in str(exc) else 4) from None


def test_a_new_file_gets_the_umasks_mode_and_a_replaced_one_keeps_its_own(
    tmp_path: Path,
) -> None:
    """mkstemp's 0600 must not leak: a data file is read by a container step's own user."""
    old_umask = os.umask(0o022)
    try:
        fresh = tmp_path / "train.csv"
        state_files.write_atomic(fresh, b"a,b\n")
        assert fresh.stat().st_mode & 0o777 == 0o644
        kept = tmp_path / "secret.json"
        kept.write_bytes(b"{}")
        kept.chmod(0o600)
        state_files.write_json(kept, {"x": 1})
        assert kept.stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(old_umask)
