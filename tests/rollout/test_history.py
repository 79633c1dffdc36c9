"""``slipway rollout history`` and ``status``: past rollouts read back from the MLflow
model version tags, assembled, and shown as JSON or tables.

The assembling is pure and tested from tags dicts. The MLflow part is real: the session's
MLflow server (tests/serving/serving_support.py's World), a model of this module's own
with versions registered in it, and the tags written by the rollout's own recorders
(``MlflowTags``, ``HistoryTags``, ``StateFile``) as a real ``RolloutController`` loop
calls them. The loop's router, metric source and clock are test_controller's in-process
ports: the serving side has its own real-server tests; what is under test is the record.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import test_controller as loop
from typer.testing import CliRunner

from slipway.cli import app
from slipway.errors import RolloutError
from slipway.registry.model_version import ModelVersion
from slipway.rollout.controller import RolloutController
from slipway.rollout.history import (
    HistoryTags,
    RolloutEntry,
    entry_detail,
    entry_of,
    history_of,
    history_table,
    read_history,
    with_local,
)
from slipway.rollout.model_registry import MlflowTags
from slipway.rollout.outcome import RolloutOutcome
from slipway.rollout.records import StateFile
from slipway.rollout.service import STATE_FILE

ANALYSIS = json.dumps(
    {"percent": 10, "decision": "rollback", "outcome": "fail", "measurements": [
        {"metric": "error_rate", "outcome": "fail", "test": "fisher", "statistic": 9.1,
         "p_value": 0.001, "canary_samples": 120, "baseline_samples": 900, "dry_run": False}]}
)  # fmt: skip


def _tags(**extra: str) -> dict[str, str]:
    return {
        "slipway.rollout.status": "rolled_back",
        "slipway.rollout.reason": "error rate too high",
        "slipway.rollout.started_at": "1000.000",
        "slipway.rollout.finished_at": "1065.500",
        "slipway.rollout.champion_before": "1",
        "slipway.rollout.champion_after": "1",
        "slipway.rollout.step.1.analysis": ANALYSIS,
        **extra,
    }


def test_a_version_never_rolled_out_is_no_row() -> None:
    assert entry_of("m", "1", {"slipway.run_id": "abc"}) is None


def test_an_entry_from_its_tags() -> None:
    entry = entry_of("m", "2", _tags())
    assert entry is not None
    assert (entry.decision, entry.champion_before, entry.champion_after) == (
        "rolled_back",
        "1",
        "1",
    )
    assert entry.duration_s == 65.5
    assert [(s.number, s.percent, s.outcome) for s in entry.steps] == [(1, 10, "fail")]
    assert entry.steps[0].measurements[0]["p_value"] == 0.001


def test_steps_sort_by_number_and_an_unreadable_one_is_kept_as_such() -> None:
    tags = _tags(**{"slipway.rollout.step.10.analysis": "{cut at the tag lim",
                    "slipway.rollout.step.2.analysis": ANALYSIS,
                    "slipway.rollout.step.2": "10%: passed"})  # fmt: skip
    entry = entry_of("m", "2", tags)
    assert entry is not None
    assert [s.number for s in entry.steps] == [1, 2, 10]
    assert entry.steps[-1].outcome == "unreadable"


def test_tags_from_before_history_tags_still_make_a_row() -> None:
    """A rollout recorded by ``MlflowTags`` alone: no start, no champions; a promotion
    still names its champion after."""
    entry = entry_of("m", "3", {"slipway.rollout.status": "promoted",
                                "slipway.rollout.finished_at": "not a number"})  # fmt: skip
    assert entry is not None
    assert (entry.champion_before, entry.champion_after) == (None, "3")
    assert entry.started_at is None and entry.finished_at is None and entry.duration_s is None


def test_history_is_newest_first_and_limited() -> None:
    versions = {
        "1": {},
        "2": _tags(**{"slipway.rollout.started_at": "2000"}),
        "3": _tags(**{"slipway.rollout.started_at": "3000"}),
    }
    assert [e.version for e in history_of("m", versions)] == ["3", "2"]
    assert [e.version for e in history_of("m", versions, limit=1)] == ["3"]


def test_the_local_state_replaces_its_row_for_the_same_model_only() -> None:
    entries = history_of("m", {"2": _tags(**{"slipway.rollout.status": "running"})})
    state = {"model": "m", "version": "2", "decision": "running", "champion_before": "1",
             "started_at": 1000.0, "steps": [{"percent": 10, "outcome": "pass"}]}  # fmt: skip
    merged = with_local(entries, state, "m")
    assert [(e.version, e.source, len(e.steps)) for e in merged] == [("2", "local state", 1)]
    assert with_local(entries, state | {"model": "other"}, "m") == entries
    assert with_local(entries, None, "m") == entries


def test_the_load_counts_are_read_and_a_cut_record_is_unknown() -> None:
    counts = {"sent": 120, "ok": 117, "errors": 3, "statuses": {"200": 117, "503": 3}}
    entry = entry_of("m", "2", _tags(**{"slipway.rollout.load": json.dumps(counts)}))
    assert entry is not None and entry.load == counts
    assert "load       sent 120, ok 117, errors 3" in entry_detail(entry, now=2000.0)
    cut = entry_of("m", "2", _tags(**{"slipway.rollout.load": '{"sent": 12'}))
    assert cut is not None and cut.load is None and cut.decision == "rolled_back"
    assert "load" not in entry_detail(cut, now=2000.0)


def test_the_table_and_the_detail_show_what_a_person_reads() -> None:
    entry = entry_of("m", "2", _tags())
    assert entry is not None
    table = history_table([entry], now=2000.0).splitlines()
    assert table[0].split() == [
        "VERSION", "DECISION", "CHAMPION", "STARTED", "DURATION", "STEPS", "REASON",
    ]  # fmt: skip
    assert table[1].split()[:3] == ["2", "rolled_back", "1"]
    assert "1970-01-01 00:16:40Z" in table[1] and "1m06s" in table[1]
    assert "10% fail" in table[1] and table[1].endswith("error rate too high")
    detail = entry_detail(entry, now=2000.0)
    assert "step 1 (10%): fail (rollback)" in detail
    assert "error_rate: fail  fisher  statistic 9.1  p 0.001  samples 120/900" in detail
    passed = {"percent": 0, "decision": "promote", "outcome": "pass", "measurements": []}
    shadowed = entry_of("m", "5", _tags(**{"slipway.rollout.step.1.analysis": json.dumps(passed)}))
    assert shadowed is not None and "shadow pass" in history_table([shadowed], now=2000.0)
    assert "step 1 (shadow): pass (promote)" in entry_detail(shadowed, now=2000.0)
    running = RolloutEntry("m", "4", "running", started_at=1000.0)
    assert "16m40s so far" in history_table([running], now=2000.0)


# --- against a real MLflow ----------------------------------------------------------


@pytest.fixture(scope="module")
def recorded(world: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A model of its own, three versions: v1 never rolled out, v2 promoted against v1,
    v3 rolled back against v2; each rollout a controller loop with the real recorders."""
    client = world.client()
    model = f"history-{uuid.uuid4().hex[:8]}"
    client.create_registered_model(model)
    for _ in range(3):
        client.create_model_version(model, source=f"s3://bucket/{model}/model")
    state = tmp_path_factory.mktemp("history-state")
    outcomes = {}
    for version, champion, canary in (("2", "1", [loop.GOOD]), ("3", "2", [loop.BAD])):
        clock = loop.Clock()
        controller = RolloutController(
            loop.SETTINGS, loop.Router(), loop.Metrics(canary), loop.Abort(), loop.Champion(),
            recorders=[MlflowTags(client), HistoryTags(client), StateFile(state / STATE_FILE)],
            clock=clock, sleep=clock.sleep,
        )  # fmt: skip
        outcomes[version] = controller.run(
            ModelVersion(model, version, f"run-{version}", "s3://b/x"),
            ModelVersion(model, champion, f"run-{champion}", "s3://b/y", alias="champion"),
        )
    return {"client": client, "model": model, "state": state, "outcomes": outcomes}


def test_history_from_mlflow_after_two_rollouts(recorded: dict[str, Any]) -> None:
    outcomes: dict[str, RolloutOutcome] = recorded["outcomes"]
    entries = history_of(recorded["model"], read_history(recorded["client"], recorded["model"]))
    assert [(e.version, e.decision, e.champion_before, e.champion_after) for e in entries] == [
        ("3", "rolled_back", "2", "2"),
        ("2", "promoted", "1", "2"),
    ]
    promoted, rolled_back = entries[1], entries[0]
    assert [s.outcome for s in promoted.steps] == ["pass", "pass", "pass"]
    assert [s.percent for s in promoted.steps] == [10, 50, 100]
    assert promoted.started_at == pytest.approx(outcomes["2"].started_at, abs=0.001)
    assert promoted.duration_s is not None and promoted.duration_s >= 0
    assert rolled_back.reason == outcomes["3"].reason
    error_rate = next(m for m in rolled_back.steps[0].measurements if m["metric"] == "error_rate")
    assert error_rate["outcome"] == "fail" and error_rate["p_value"] is not None


def test_an_unknown_model_is_a_clear_error(recorded: dict[str, Any]) -> None:
    with pytest.raises(RolloutError, match="no registered model named 'no-such-model'"):
        read_history(recorded["client"], "no-such-model")


def _cli(*args: str) -> Any:
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def test_cli_history_json_and_table(recorded: dict[str, Any], tmp_path: Path) -> None:
    model, state = recorded["model"], str(recorded["state"])
    result = _cli("rollout", "history", "--model", model, "--state-dir", state, "--json")
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown["model"] == model
    assert [(r["version"], r["decision"]) for r in shown["rollouts"]] == [
        ("3", "rolled_back"), ("2", "promoted"),
    ]  # fmt: skip
    # The state folder's state file is the last rollout (v3): its row comes from there.
    assert shown["rollouts"][0]["source"] == "local state"
    assert shown["rollouts"][1]["duration_s"] is not None
    # Elsewhere (no state file), the same history from the tags alone.
    elsewhere = _cli("rollout", "history", "--model", model, "--state-dir", str(tmp_path),
                     "--json", "--limit", "1")  # fmt: skip
    rows = json.loads(elsewhere.stdout)["rollouts"]
    assert [(r["version"], r["source"]) for r in rows] == [("3", "mlflow")]

    table = _cli("rollout", "history", "--model", model, "--state-dir", state, "--human")
    assert table.exit_code == 0, table.output
    lines = table.stdout.splitlines()
    assert lines[0].startswith("VERSION") and len(lines) == 3
    assert lines[1].split()[:4] == ["3", "rolled_back", "2", "->"]
    assert "10% pass, 50% pass, 100% pass" in lines[2]


def test_cli_history_bad_input(recorded: dict[str, Any], tmp_path: Path) -> None:
    unknown = _cli("rollout", "history", "--model", "no-such-model", "--state-dir", str(tmp_path))
    assert unknown.exit_code == 1
    assert "error: no registered model named 'no-such-model'" in unknown.output
    bad_limit = _cli("rollout", "history", "--limit", "0", "--state-dir", str(tmp_path))
    assert bad_limit.exit_code == 1 and "--limit must be at least 1" in bad_limit.output


def test_cli_status_as_a_table(recorded: dict[str, Any]) -> None:
    result = _cli("rollout", "status", "--state-dir", str(recorded["state"]), "--human")
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert f"rollout of {recorded['model']} version 3: rolled_back" in text
    assert "champion   2 -> 2" in text and "step 1 (10%): fail (rollback)" in text
    assert "error_rate: fail" in text
    as_json = _cli("rollout", "status", "--state-dir", str(recorded["state"]))
    assert json.loads(as_json.stdout)["version"] == "3"  # not a terminal: JSON


def test_cli_status_with_a_model_reads_mlflow_from_anywhere(
    recorded: dict[str, Any], tmp_path: Path
) -> None:
    """A state folder that never ran the rollout (another machine): ``--model`` still
    shows the newest recorded one, from the tags."""
    model = recorded["model"]
    result = _cli("rollout", "status", "--state-dir", str(tmp_path), "--model", model, "--human")
    assert result.exit_code == 0, result.output
    assert "no rollout has run here" in result.stdout
    assert f"newest rollout of {model} recorded in MLflow:" in result.stdout
    assert f"rollout of {model} version 3: rolled_back" in result.stdout
    as_json = _cli("rollout", "status", "--state-dir", str(tmp_path), "--model", model)
    shown = json.loads(as_json.stdout)
    assert shown["rollout"] is None and shown["recorded"]["version"] == "3"
    unknown = _cli("rollout", "status", "--state-dir", str(tmp_path), "--model", "no-such-model")
    assert unknown.exit_code == 1 and "no registered model named" in unknown.output
