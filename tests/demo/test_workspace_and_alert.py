"""The demo's pieces without servers: its workspace (data, config, the scratch GitOps
repository) and the alert it posts, taken by slipway's real alert receiver over HTTP.
The receiver's retraining action is replaced by one that notes the job (the real one
trains a model; the demo runs it)."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from slipway.config import RetrainingSettings, load_settings
from slipway.demo import workspace
from slipway.demo.drift_run import ALERT, webhook
from slipway.errors import ConfigError
from slipway.monitoring.receiver import Receiver, Retraining, serve

MODEL = "churn-classifier"


def test_workspace_keeps_everything_under_the_state_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cwd = tmp_path / "user-checkout"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    state = tmp_path / "state"
    files = workspace.prepare(state, MODEL)
    assert list(cwd.iterdir()) == []  # nothing written to the working tree
    for path in (files.train, files.reference, files.more, files.drifted, files.config):
        assert path.is_file() and state in path.parents
    log = subprocess.run(["git", "-C", str(files.gitops), "log", "--oneline"],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert len(log.splitlines()) == 1
    assert (files.gitops / workspace.VALUES_FILE).read_text().count(f"name: {MODEL}") == 1
    settings = load_settings(files.config)
    assert settings.rollout.gitops.repo_dir == files.gitops
    assert settings.rollout.load.enabled
    assert settings.monitoring.payloads.sample_rate == 1.0
    assert settings.data.train == files.drifted and settings.data.reference is None
    assert settings.data.contract.is_file()
    # Run 2's config: the same, with the shadow phase on (the others go straight to canary).
    assert settings.rollout.shadow.percent == 0
    shadowed = load_settings(files.shadow_config)
    assert shadowed.rollout.shadow.percent == 50
    assert shadowed.model_dump(exclude={"rollout"}) == settings.model_dump(exclude={"rollout"})
    # A second prepare reuses what is there: the same repository, one commit.
    workspace.prepare(state, MODEL)
    again = subprocess.run(["git", "-C", str(files.gitops), "log", "--oneline"],
                           capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert again == log


def test_the_scratch_repository_needs_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no git on PATH
    with pytest.raises(ConfigError, match="needs git"):
        workspace.scratch_repo(tmp_path / "gitops", MODEL)


def test_the_alert_starts_one_retraining_at_the_receiver(tmp_path: Path) -> None:
    jobs: list[Retraining] = []

    def note(job: Retraining) -> dict[str, Any]:
        jobs.append(job)
        return {"status": "succeeded", "registered_version": "9"}

    receiver = Receiver(tmp_path, RetrainingSettings(cooldown_seconds=0), note)
    server = serve(receiver, 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/alerts"
        answer = httpx.post(url, json=webhook(MODEL, "2", "drift"), timeout=10)
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"started": [MODEL]}
        receiver.wait_idle()
        assert [(j.model, j.version, j.alert) for j in jobs] == [(MODEL, "2", ALERT)]
        (done,) = receiver.state().retrainings
        assert done.status == "succeeded" and done.detail["registered_version"] == "9"
        # Negative: an alert the receiver is not configured for starts nothing.
        other = webhook(MODEL, "2", "x")
        other["alerts"][0]["labels"]["alertname"] = "SomethingElse"  # type: ignore[index]
        assert httpx.post(url, json=other, timeout=10).json() == {"started": []}
    finally:
        server.shutdown()
        server.server_close()
        receiver.close()


def test_demo_refuses_a_run_count_it_does_not_have(tmp_path: Path) -> None:
    """`slipway demo --runs 5`: one error line naming the option, before anything starts."""
    import os
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLIPWAY_", "MLFLOW_"))}
    done = subprocess.run(
        [sys.executable, "-m", "slipway.cli", "demo", "--runs", "5",
         "--state-dir", str(tmp_path / "state")],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert "error: --runs must be 1 to 4, not 5" in done.stderr
    assert not (tmp_path / "state" / "stack.json").exists()  # nothing started
