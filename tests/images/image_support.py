"""Shared by the image tests: scripts/ modules by path, and podman (containers run as a pod
runs them: UID 10001, read-only root, only /tmp writable, runc, the repository's
containers.conf)."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import httpx
import pytest
from podman_support import CONTAINERS_CONF, REPO_ROOT, SCRIPTS, load_script, podman_env

__all__ = ["CONTAINERS_CONF", "REPO_ROOT", "SCRIPTS", "load_script", "podman_env"]

UID = 10001


def podman_run(
    image: str, args: Sequence[str], options: Sequence[str] = (), timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``podman run --rm`` as a pod runs it: UID 10001, read-only root, only /tmp writable."""
    command = ["podman", "run", "--rm", "--runtime", "runc", "--network", "host",
               *locked_down(), *options, image, *args]  # fmt: skip
    return subprocess.run(
        command, env=podman_env(), capture_output=True, text=True, timeout=timeout, check=False
    )


def locked_down() -> list[str]:
    return ["--user", f"{UID}:{UID}", "--read-only", "--tmpfs", "/tmp:rw,mode=1777",
            "--cap-drop", "ALL", "--security-opt", "no-new-privileges"]  # fmt: skip


@dataclass
class Container:
    name: str
    url: str

    def exec(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["podman", "exec", self.name, *args],
            env=podman_env(), capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip

    def logs(self) -> str:
        done = subprocess.run(
            ["podman", "logs", self.name], env=podman_env(), capture_output=True, text=True,
            check=False,
        )  # fmt: skip
        return done.stdout + done.stderr


@contextlib.contextmanager
def running(
    image: str, name: str, port: int, args: Sequence[str], options: Sequence[str] = ()
) -> Iterator[Container]:
    """A detached container serving on ``port`` (host network), removed afterwards; ready
    when ``/v2/health/ready`` answers 200."""
    command = ["podman", "run", "--detach", "--name", name, "--runtime", "runc",
               "--network", "host", *locked_down(), *options, image, *args]  # fmt: skip
    subprocess.run(["podman", "rm", "--force", name], env=podman_env(), capture_output=True,
                   check=False)  # fmt: skip
    started = subprocess.run(command, env=podman_env(), capture_output=True, text=True,
                             check=False)  # fmt: skip
    assert started.returncode == 0, started.stderr
    container = Container(name, f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{container.url}/v2/health/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"{name} not ready in 90 s:\n{container.logs()[-4000:]}")
            time.sleep(0.5)
        yield container
    finally:
        subprocess.run(["podman", "rm", "--force", "--time", "2", name], env=podman_env(),
                       capture_output=True, check=False)  # fmt: skip
