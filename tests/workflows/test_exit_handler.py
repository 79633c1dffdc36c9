"""The exit handler's step (workflow.templates.exit_handler.on_exit) and its wiring to the rollout.

Its whole path against a real MLflow is in test_workflow_parity (bad data: the run marked
FAILED with the reason, the rollback asked for and answering that nothing was in
flight). Here, without servers, what it asks of the rollout: on failure it calls
``slipway.rollout.service.roll_back_unfinished`` for the workflow's model (a recorder
stands in for it, and a stand-in MLflow client that has no runs); on success nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from slipway.config import load_settings, step_environment
from slipway.rollout import service
from slipway.workflow.templates import exit_handler


class _NoRuns:
    def get_experiment_by_name(self, name: str) -> Any:
        return SimpleNamespace(experiment_id="1")

    def search_runs(self, ids: list[str], filter_string: str) -> list[Any]:
        self.filter = filter_string
        return []


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[tuple[str, str]]:
    recorded: list[tuple[str, str]] = []
    client = _NoRuns()

    def runtime(config: str) -> Any:
        return SimpleNamespace(mlflow=client, settings=load_settings())

    def roll_back(settings: Any, model: str) -> str:
        recorded.append((settings.tracking.model_name, model))
        return f"rolled back {model}"

    monkeypatch.setattr(exit_handler, "step_runtime", runtime)
    monkeypatch.setattr(service, "roll_back_unfinished", roll_back)
    return recorded


def _on_exit(status: str, failures: str) -> str:
    function = exit_handler.on_exit
    with step_environment({"SLIPWAY_WORKFLOW_NAME": "slipway-train-and-promote-abc12"}):
        result: str = function(status=status, failures=failures)
    return result


def test_on_failure_the_unfinished_rollout_of_the_model_is_rolled_back(
    calls: list[tuple[str, str]],
) -> None:
    failures = json.dumps([{"displayName": "canary", "message": "pod OOMKilled"}])
    outcome = _on_exit("Failed", failures)
    model = load_settings().tracking.model_name
    assert calls == [(model, model)]
    assert outcome == f"rolled back {model}"


def test_on_success_nothing_is_rolled_back(calls: list[tuple[str, str]]) -> None:
    assert _on_exit("Succeeded", "[]") == "nothing to do"
    assert calls == []


def test_the_failure_reason_names_each_failed_step() -> None:
    failures = json.dumps(
        [
            {"displayName": "train", "message": "Error (exit code 1)"},
            {"displayName": "canary", "message": "pod deleted"},
        ]
    )
    reason = exit_handler._failure_reason(failures)
    assert reason == "train: Error (exit code 1); canary: pod deleted"
    assert exit_handler._failure_reason("not json") == "not json"
