"""One demo run: train and register through the workflow, or roll a version out; and
the record the summary table and the report are made from."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slipway.demo.timeline import Timeline
from slipway.registry import aliases
from slipway.rollout.load import LoadCounts
from slipway.rollout.outcome import RolloutOutcome
from slipway.runtime import Runtime

Echo = Callable[[str], None]


@dataclass
class RunRecord:
    number: int
    title: str
    version: str | None = None
    decision: str = ""
    why: str = ""
    champion_before: str | None = None
    champion_after: str | None = None
    seconds: float = 0.0
    outcome: RolloutOutcome | None = None
    load: LoadCounts | None = None
    timeline: Timeline | None = None
    notes: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    summary: str = ""  # the pipeline's own summary of a training run


def champion(runtime: Runtime) -> str | None:
    mv = aliases.version_by_alias(
        runtime.mlflow, runtime.settings.tracking.model_name, aliases.CHAMPION
    )
    return None if mv is None else str(mv.version)


def train(
    runtime: Runtime, record: RunRecord, data: Path, reference: Path | None, echo: Echo
) -> str:
    """The training workflow (the Argo WorkflowTemplate, walked by the local executor) up
    to ``register``; the version it registered."""
    from slipway.pipeline.summary import render_summary
    from slipway.workflow import local_run

    record.champion_before = champion(runtime)
    result = local_run.run_training(runtime, data, reference, target="register", echo=echo)
    result.raise_for_failure()
    pipeline = local_run.pipeline_result(result, runtime.settings, runtime.mlflow)
    record.summary = render_summary(pipeline, runtime.settings, runtime.mlflow.tracking_uri)
    outputs = result.task("register").outputs
    record.facts["run_id"] = result.task("validate-data").outputs.get("run-id", "")
    record.facts["gate"] = result.task("evaluate").outputs.get("gate", "")
    version = outputs.get("model-version") or ""
    if not version:
        record.decision, record.why = "not registered", f"gate: {record.facts['gate']}"
        return ""
    record.version = version
    return version


def roll_out(
    runtime: Runtime, record: RunRecord, version: str, fault_error_rate: float = 0.0
) -> RolloutOutcome:
    from slipway.rollout.service import start_rollout

    def keep(counts: LoadCounts) -> None:
        record.load = counts

    record.champion_before = champion(runtime)
    started = time.monotonic()
    outcome = start_rollout(runtime, version, fault_error_rate=fault_error_rate, on_load=keep)
    record.facts["rollout_seconds"] = round(time.monotonic() - started, 1)
    record.outcome = outcome
    record.decision, record.why = outcome.decision, outcome.reason
    record.champion_after = champion(runtime)
    return outcome
