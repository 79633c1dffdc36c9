"""Starting, watching and stopping the local servers' processes.

Each server is a child process in its own session (so a Ctrl-C in the terminal does not
reach it by accident), logging to a file under the state folder, and considered up only
once its health URL answers.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from slipway.errors import StackError


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Managed:
    """A running server: enough to find it, check it and stop it from another process."""

    name: str
    pid: int
    port: int
    url: str
    health_url: str
    log: str

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def alive(self) -> bool:
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
        """SIGTERM the process group, then SIGKILL what is left after ``grace`` seconds."""
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 2.0)):
            try:
                os.killpg(self.pid, sig)
            except (ProcessLookupError, PermissionError):
                return
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(self.pid, os.WNOHANG)
                if not self.alive():
                    return
                time.sleep(0.05)


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
    managed = Managed(name, proc.pid, port, url, url + health_path, str(log_path))
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                tail = log_path.read_text(errors="replace")[-2000:]
                raise StackError(
                    f"{name} exited with code {proc.returncode} while starting:\n{tail}"
                )
            if managed.healthy(timeout=1.0):
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
