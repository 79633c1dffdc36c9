"""Starting, watching and stopping the local servers' processes.

Each server is a child process in its own session (so a Ctrl-C in the terminal does not
reach it by accident), logging to a file under the state folder, and considered up only
once its health URL answers.

A PID is only a number: after a reboot, or long after a server died, it may belong to
another process. So each server's start time and command line are recorded when it
starts (psutil), and a recorded server counts as alive, and is signalled, only while the
process with its PID still has both.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import signal
import socket
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
import psutil  # type: ignore[import-untyped]  # no stubs in the lock

from slipway.errors import StackError

log = logging.getLogger(__name__)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def identity(pid: int) -> tuple[float, list[str]] | None:
    """(start time, command line) of process ``pid``; None when there is none."""
    try:
        process = psutil.Process(pid)
        with process.oneshot():
            return process.create_time(), process.cmdline()
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return None
    except psutil.AccessDenied:
        return None


@dataclass(frozen=True)
class Managed:
    """A running server: enough to find it, check it and stop it from another process.

    ``started_at`` and ``cmdline`` identify the process behind ``pid`` (None in a state
    file written before they were recorded: then the PID alone is trusted)."""

    name: str
    pid: int
    port: int
    url: str
    health_url: str
    log: str
    started_at: float | None = None
    cmdline: list[str] | None = None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def same_process(self) -> bool | None:
        """True while ``pid`` is the process that was started; False when another process
        has the PID now; None when no process has it."""
        found = identity(self.pid)
        if found is None:
            return None
        if self.started_at is None:
            return True
        started_at, cmdline = found
        # create_time comes from the kernel's start tick: equal for the same process,
        # rounded differently only in the last digits.
        same = abs(started_at - self.started_at) < 0.05
        # An empty record: read while the child was still in exec (nothing to compare).
        same = same and (not self.cmdline or cmdline == self.cmdline)
        if not same:
            log.info(
                "PID %d of %s: started %.2f, %s; recorded %.2f, %s",
                self.pid, self.name, started_at, cmdline[:8], self.started_at,
                (self.cmdline or [])[:8],
            )  # fmt: skip
        return same

    def alive(self) -> bool:
        if self.started_at is not None and not self.same_process():
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        # A zombie (exited, not yet reaped by its parent) is not alive.
        with contextlib.suppress(OSError):
            stat = Path(f"/proc/{self.pid}/stat").read_text()
            return stat.rsplit(")", 1)[1].split()[0] != "Z"
        return True

    def healthy(self, timeout: float = 2.0) -> bool:
        try:
            return httpx.get(self.health_url, timeout=timeout).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM the process group, then SIGKILL what is left after ``grace`` seconds.

        Nothing is signalled when the PID now belongs to another process. When the leader
        is gone but its group is not (a server's workers), the group is still signalled:
        the kernel gives no new process a PID that is still a live group's ID."""
        if self.same_process() is False:
            log.warning(
                "not stopping %s: PID %d now belongs to another process (%s)",
                self.name, self.pid, " ".join((identity(self.pid) or (0, ["?"]))[1])[:200],
            )  # fmt: skip
            return
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 2.0)):
            try:
                os.killpg(self.pid, sig)
            except (ProcessLookupError, PermissionError):
                return
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(self.pid, os.WNOHANG)
                if not self._group_alive():
                    return
                time.sleep(0.05)

    def _group_alive(self) -> bool:
        try:
            os.killpg(self.pid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        # Only zombies left (a leader not yet reaped by its parent) is not alive.
        return any(
            p.info["status"] != psutil.STATUS_ZOMBIE
            for p in psutil.process_iter(["pid", "status"])
            if _pgid(p.info["pid"]) == self.pid
        )


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def start(
    name: str,
    command: list[str],
    *,
    port: int,
    health_path: str,
    log_dir: Path,
    env: dict[str, str] | None = None,
    timeout: float = 90.0,
) -> Managed:
    """Start ``command`` and wait until ``http://127.0.0.1:{port}{health_path}`` answers 200."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    found = identity(proc.pid)
    started_at, cmdline = found if found is not None else (None, None)
    managed = Managed(
        name, proc.pid, port, url, url + health_path, str(log_path), started_at, cmdline
    )
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                tail = log_path.read_text(errors="replace")[-2000:]
                raise StackError(
                    f"{name} exited with code {proc.returncode} while starting:\n{tail}"
                )
            if managed.healthy(timeout=1.0):
                # Read once it answers: right after the fork the child may still be in exec,
                # with an empty command line.
                found = identity(proc.pid)
                if found is not None:
                    managed = dataclasses.replace(managed, started_at=found[0], cmdline=found[1])
                return managed
            time.sleep(0.2)
    except BaseException:
        # Interrupted (Ctrl-C, SIGTERM turned into KeyboardInterrupt) before the caller could
        # record the server: stop it here, or nobody will.
        managed.stop()
        raise
    managed.stop()
    raise StackError(
        f"{name} did not answer {managed.health_url} within {timeout:.0f}s; see {log_path}"
    )
