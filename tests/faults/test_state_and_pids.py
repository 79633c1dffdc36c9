"""The local stack's state on disk and its processes, with real files and real processes.

- Two commands recording services at once lose neither (``stack.json`` is read, changed
  and written under a lock, atomically); the old code's fixed temporary name and unlocked
  read-modify-write lost updates.
- A corrupt ``stack.json`` is an error naming the file and what to do; a stale entry (its
  process gone) is dropped on the next write.
- A PID that now belongs to another process (after a reboot, say) is neither counted alive
  nor signalled by ``local down``: each server's start time and command line are recorded
  at start and checked first.
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil  # type: ignore[import-untyped]
import pytest

from slipway.errors import StackError
from slipway.local import processes
from slipway.local.processes import Managed
from slipway.local.stack import LocalStack


def _sleeper() -> subprocess.Popen[bytes]:
    """A real process in its own session, as the stack starts its servers."""
    return subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True
    )


def _managed(proc: subprocess.Popen[bytes], name: str) -> Managed:
    found = processes.identity(proc.pid)
    assert found is not None
    return Managed(name, proc.pid, 0, "", "", "", found[0], found[1])


def _record_many(state_dir: str, prefix: str, pid: int, rounds: int) -> None:
    stack = LocalStack(Path(state_dir))
    for i in range(rounds):
        stack.add(Managed(f"{prefix}-{i}", pid, 0, "", "", ""))


def test_two_commands_recording_at_once_lose_nothing(tmp_path: Path) -> None:
    # Every entry uses this test process's PID, so that every entry stays alive.
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(target=_record_many, args=(str(tmp_path), name, os.getpid(), 15))
        for name in ("a", "b", "c")
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
        assert proc.exitcode == 0
    names = set(LocalStack(tmp_path).services())
    assert names == {f"{p}-{i}" for p in "abc" for i in range(15)}
    # Atomic writes under unique temporary names: nothing left over beside the state.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stack.json", "stack.json.lock"]


def test_a_corrupt_state_file_names_itself_and_the_remedy(tmp_path: Path) -> None:
    stack = LocalStack(tmp_path)
    stack.state_file.write_text('{"mlflow": {"name": "mlflow", "pid": 1', encoding="utf-8")
    with pytest.raises(StackError, match=r"corrupt stack state .*stack.json.*move it aside"):
        stack.services()
    stack.state_file.write_text('{"mlflow": [1, 2]}', encoding="utf-8")
    with pytest.raises(StackError, match=r"corrupt stack state .*stack.json"):
        stack.services()


def test_a_stale_entry_is_dropped_on_the_next_write(tmp_path: Path) -> None:
    stack = LocalStack(tmp_path)
    gone = _sleeper()
    stack.add(_managed(gone, "old-server"))
    assert "old-server" in stack.services()
    gone.kill()
    gone.wait()
    assert stack.services() == {}
    live = _sleeper()
    try:
        stack.add(_managed(live, "new-server"))
        assert set(stack._read()) == {"new-server"}
    finally:
        live.kill()
        live.wait()


def test_a_reused_pid_is_not_alive_and_not_signalled(tmp_path: Path) -> None:
    """What `local down` meets after a reboot: the recorded PID is another process now."""
    stranger = _sleeper()
    try:
        found = processes.identity(stranger.pid)
        assert found is not None
        started_at, cmdline = found
        # The record of a server that had this PID before: started earlier, another command.
        recorded = Managed(
            "mlflow", stranger.pid, 5000, "", "", "", started_at - 3600, ["mlflow", "server"]
        )
        assert recorded.same_process() is False
        assert not recorded.alive()
        stack = LocalStack(tmp_path)
        stack._save({"mlflow": recorded})
        assert stack.down() == ["mlflow"]
        time.sleep(0.3)
        assert stranger.poll() is None, "local down signalled a process it did not start"
        # The same PID with the start time but another command line is not it either.
        assert Managed("m", stranger.pid, 0, "", "", "", started_at, ["other"]).alive() is False
        # And the process itself, as recorded at its start, is.
        assert Managed("m", stranger.pid, 0, "", "", "", started_at, cmdline).alive()
    finally:
        stranger.kill()
        stranger.wait()


def test_stop_signals_the_started_process_and_its_group(tmp_path: Path) -> None:
    # A leader with a child in its group, as MLflow's server runs its workers.
    script = (
        "import subprocess, sys, time; "
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)']); "
        "time.sleep(120)"
    )
    leader = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)
    time.sleep(0.5)
    managed = _managed(leader, "server")
    assert managed.alive()
    managed.stop(grace=5)
    leader.wait(timeout=10)
    # Nothing of the group runs on (a zombie waits only for its reaper).
    left = [
        p.pid
        for p in psutil.process_iter(["status"])
        if _pgid(p.pid) == leader.pid and p.info["status"] != psutil.STATUS_ZOMBIE
    ]
    assert left == []


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def test_processes_started_by_the_stack_record_their_identity(tmp_path: Path) -> None:
    port = processes.free_port()
    server = processes.start(
        "http",
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        port=port,
        health_path="/",
        log_dir=tmp_path,
        timeout=60,
    )
    try:
        assert server.started_at is not None
        assert server.cmdline is not None and "http.server" in server.cmdline
        assert server.same_process() is True and server.alive()
        # Recorded and read back through stack.json, it is still the same process.
        stack = LocalStack(tmp_path / "state")
        stack.add(server)
        assert stack.services()["http"] == server
    finally:
        server.stop()
    assert not server.alive()
