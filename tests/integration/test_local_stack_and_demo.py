"""``slipway local up|status|down`` and ``slipway demo`` as a user runs them: subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from slipway.local.stack import LocalStack

pytestmark = pytest.mark.integration


def _slipway(*args: str, state: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SLIPWAY_TRAINING__EPOCHS": "5", "SLIPWAY_TRAINING__PROGRESS": "false"}
    env.pop("MLFLOW_TRACKING_URI", None)
    return subprocess.run(
        [sys.executable, "-m", "slipway.cli", *args, "--state-dir", str(state)],
        capture_output=True, text=True, timeout=600, env=env,
    )  # fmt: skip


def test_demo_then_status_then_down(tmp_path: Path) -> None:
    state = tmp_path / "state"
    try:
        demo = _slipway("demo", state=state)
        assert demo.returncode == 0, demo.stderr[-3000:]
        out = demo.stdout
        assert "validation     passed" in out
        assert "gate           passed" in out
        assert "churn-classifier version 1 -> challenger, champion (first model)" in out
        assert "mlflow run" in out

        stack = LocalStack(state)
        uri = stack.tracking_uri()
        assert uri is not None
        assert httpx.get(f"{uri}/health").status_code == 200

        status = _slipway("local", "status", state=state)
        assert status.returncode == 0
        assert "healthy" in status.stdout

        # A second `up` is a no-op: the same server keeps running.
        again = _slipway("local", "up", state=state)
        assert again.returncode == 0
        assert stack.tracking_uri() == uri
    finally:
        down = _slipway("local", "down", state=state)
    assert down.returncode == 0
    assert "mlflow" in down.stdout
    assert LocalStack(state).services() == {}
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{uri}/health", timeout=2)
    assert _slipway("local", "status", state=state).returncode == 1
