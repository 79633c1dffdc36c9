"""podman for the tests that build or run images (tests/images, the container runner):
whether it runs here, its environment (the repository's containers.conf), and scripts/
modules by path. Where podman cannot run, those tests skip, unless SLIPWAY_REQUIRE_PODMAN=1
(CI) makes that a failure."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = REPO_ROOT / "scripts"
CONTAINERS_CONF = REPO_ROOT / "images" / "containers.conf"


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


def require_podman() -> None:
    """Skip the calling test where podman cannot run; fail instead under
    SLIPWAY_REQUIRE_PODMAN=1."""
    problem = podman_problem()
    if problem is None:
        return
    if os.environ.get("SLIPWAY_REQUIRE_PODMAN") == "1":
        pytest.fail(f"SLIPWAY_REQUIRE_PODMAN=1 but {problem}")
    pytest.skip(problem)


def image_exists(image: str) -> bool:
    done = subprocess.run(["podman", "image", "exists", image], env=podman_env(), check=False)
    return done.returncode == 0
