"""``slipway demo`` end to end, as a user runs it (a subprocess on a fresh state folder):
real MLflow, real model servers behind the router, real Prometheus, the local
Alertmanager's receiver path. The four runs must end as the README says, and the report it
writes must render in headless Chromium with its figures. Nothing here is faked; the one
deliberate fault is the demo's own (run 3's server fails on purpose)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .chromium_check import CHROMIUM, check_report

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        shutil.which("chromium") is None and not Path(CHROMIUM).exists(),
        reason="chromium is not installed (.ci/setup.sh installs it)",
    ),
]


def _slipway(*args: str, state: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SLIPWAY_TRAINING__PROGRESS": "false"}
    env.pop("MLFLOW_TRACKING_URI", None)
    return subprocess.run(
        [sys.executable, "-m", "slipway.cli", *args, "--state-dir", str(state)],
        capture_output=True, text=True, timeout=timeout, env=env,
    )  # fmt: skip


def _row(out: str, run: int) -> list[str]:
    """The summary table's row of ``run``: its columns (two or more spaces apart)."""
    for line in out.splitlines():
        if re.match(rf"^{run}\s{{2,}}", line):
            return re.split(r"\s{2,}", line.strip())
    raise AssertionError(f"no summary row for run {run} in:\n{out[-3000:]}")


def test_the_whole_loop_and_its_report(tmp_path: Path) -> None:
    state = tmp_path / "state"
    try:
        demo = _slipway("demo", state=state, timeout=900)
        assert demo.returncode == 0, demo.stderr[-3000:]
        out = demo.stdout
        first, second, third, fourth = (_row(out, n) for n in (1, 2, 3, 4))
        assert first[2:5] == ["1", "- -> 1", "champion"], first
        assert second[2:5] == ["2", "1 -> 2", "promoted"], second
        assert third[2:5] == ["3", "2 -> 2", "rolled_back"], third
        assert "error rate" in third[5], third
        assert fourth[3] == "2 -> 2" and fourth[4] == "retraining succeeded", fourth
        assert "drift in" in fourth[5], fourth
        assert re.search(r"run 2: shadow phase \(0% live\): promote: shadow agreement", out)
        breach = re.search(r"run 3: breach detected to rollback: ([0-9.]+) s", out)
        assert breach is not None and float(breach.group(1)) < 30, out[-2000:]
        # The GitOps record went to the scratch repository, never the working tree.
        repo = state / "demo" / "gitops"
        log = subprocess.run(
            ["git", "-C", str(repo), "log", "--all", "--format=%s"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        assert "Promote churn-classifier to version 2 (dev)" in log, log
        report = state / "demo" / "report.html"
        assert f"report: {report}" in out
        rendered = check_report(report, tmp_path, min_figures=8)
        assert rendered.problems == [], rendered
        assert rendered.figures == rendered.rendered >= 8
    finally:
        _slipway("local", "down", state=state, timeout=120)
