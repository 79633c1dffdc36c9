"""``slipway local up|status|down`` and ``slipway demo`` as a user runs them: subprocesses."""

from __future__ import annotations

import os
import signal
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
        demo = _slipway("demo", "--runs", "1", state=state)  # the whole loop: tests/demo
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


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_foreground_stack_cleans_up_on_signal(tmp_path: Path, sig: signal.Signals) -> None:
    state = tmp_path / "state"
    command = [sys.executable, "-m", "slipway.cli", "local", "up", "--foreground"]
    proc = subprocess.Popen(
        [*command, "--state-dir", str(state)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    stack = LocalStack(state)
    try:
        assert proc.stdout is not None
        seen = []
        for line in proc.stdout:  # bounded: the process prints this line once it is up
            seen.append(line)
            if "Ctrl-C stops the stack" in line:
                break
        assert proc.poll() is None, "".join(seen)
        services = stack.services()
        assert set(services) >= {"mlflow"}
        proc.send_signal(sig)
        output, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        if proc.returncode != 0:
            stack.down()  # the servers run in their own sessions: never leave them behind
    assert proc.returncode == 0, output
    assert "local stack stopped" in output
    assert not any(service.alive() for service in services.values())
    assert not stack.state_file.exists()
