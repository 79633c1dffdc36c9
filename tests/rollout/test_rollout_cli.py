"""``slipway rollout start`` as a user runs it, then ``history`` from MLflow: real model
servers behind the router, a real Prometheus, a real MLflow (test_local_rollout's
fixtures), the CLI in its own process with stdout a pipe (so: one JSON line per event).

An erroring challenger (faults injected into the canary, as the rollback drills do) is
caught in its first step: a short run that still shows progress events with real figures,
the step's judgement and the decision, and leaves the tags that ``history`` reads.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

import pytest
from serving_support import MODEL, World
from test_local_rollout import _start, setup  # noqa: F401  (setup: the module's fixture)

pytestmark = pytest.mark.integration


def _cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "slipway.cli", *args],
        capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


def test_start_streams_json_lines_and_history_reads_the_decision(
    world: World,
    setup: dict[str, Any],  # noqa: F811
) -> None:
    champion, bad = world.versions[1], world.versions[0]
    common = ["--config", str(setup["config"]), "--state-dir", str(world.state)]
    with _start(world, setup, champion):
        time.sleep(1)
        started = _cli("rollout", "start", "--version", bad, "--fault-error-rate", "0.5",
                       "--traffic", "10", *common)  # fmt: skip
    assert started.returncode == 2, started.stderr  # not promoted
    events = [json.loads(line) for line in started.stdout.splitlines()]
    kinds = [e["event"].removeprefix("slipway.rollout.") for e in events]
    assert kinds[0] == "started" and kinds[-1] == "decision", kinds
    assert "step" in kinds and "promoted" not in kinds
    checked = [e for e in events if e["event"] == "slipway.rollout.progress" and e.get("checks")]
    assert checked, kinds
    last = checked[-1]
    assert (last["version"], last["champion"], last["step"], last["percent"]) == (
        bad, champion, 1, 10,
    )  # fmt: skip
    assert last["canary_stats"]["requests"] > 0 and last["champion_stats"]["requests"] > 0
    window = json.loads(setup["config"].read_text())["rollout"]["window_seconds"]
    assert 0 <= last["window_left_s"] <= window
    assert {m["metric"] for m in last["latest"]} >= {"error_rate", "latency"}
    decision = events[-1]["outcome"]
    assert decision["decision"] == "rolled_back" and "error rate" in decision["reason"]

    # From the tags alone (a state folder without this rollout's state file).
    elsewhere = str(world.state / "none")
    history = _cli("rollout", "history", "--model", MODEL, "--limit", "1", "--json",
                   "--config", str(setup["config"]), "--state-dir", elsewhere)  # fmt: skip
    assert history.returncode == 0, history.stderr
    (row,) = json.loads(history.stdout)["rollouts"]
    assert (row["version"], row["decision"], row["source"]) == (bad, "rolled_back", "mlflow")
    assert (row["champion_before"], row["champion_after"]) == (champion, champion)
    assert row["reason"] == decision["reason"]
    assert row["duration_s"] is not None and row["duration_s"] > 0
    assert row["steps"][0]["percent"] == 10 and row["steps"][0]["outcome"] == "fail"
    # The load step's counts (--traffic) are on the version's tags too.
    load = row["load"]
    assert load["sent"] > 0 and load["sent"] == load["ok"] + load["errors"], load
    assert sum(load["statuses"].values()) == load["sent"], load
