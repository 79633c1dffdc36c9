"""Shared by the image tests: scripts/ modules by path, and podman (containers run as a pod
runs them: UID 10001, read-only root, only /tmp writable, runc, the repository's
containers.conf)."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import httpx
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = REPO_ROOT / "scripts"
CONTAINERS_CONF = REPO_ROOT / "images" / "containers.conf"
UID = 10001


def load_script(name: str) -> ModuleType:
    """A module of scripts/ (not a package), imported by path."""
    spec = importlib.util.spec_from_file_location(name.replace("-", "_"), SCRIPTS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def podman_env() -> dict[str, str]:
    return {**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF)}


def podman_problem() -> str | None:
    """Why podman cannot build and run here, or None."""
    try:
        done = subprocess.run(
            ["podman", "info", "--format", "json"],
            env=podman_env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (FileNotFoundError, subprocess.TimeoutExpired) as exc:
        return f"podman is not usable: {exc}"
    if done.returncode != 0:
        return f"podman info failed: {done.stderr.strip()[-500:]}"
    try:
        subprocess.run(["runc", "--version"], capture_output=True, check=True)
    except (FileNotFoundError, subprocess.CalledProcessError) as exc:
        return f"runc is not usable: {exc}"
    return None


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
