"""Retraining on this machine: the training workflow, run by the local executor.

The same Hera WorkflowTemplate the cluster runs (validate-data, train, evaluate with its
gate, register, the canary), on the configured training data: a retraining goes through
every gate, and what it records is what the run's tasks say (the gate's verdict, the
version registered, if any, and the rollout's decision).
"""

from __future__ import annotations

from typing import Any

from slipway.errors import ConfigError
from slipway.monitoring.receiver import Retrain, Retraining
from slipway.runtime import Runtime


def summarise(result: Any) -> dict[str, Any]:
    """What the receiver records of a workflow run (a RunResult)."""
    tasks = {
        t.name: {"status": t.status, "outputs": dict(t.outputs), "message": t.message}
        for t in result.tasks
    }
    outputs = {k: v for t in result.tasks for k, v in t.outputs.items()}
    return {
        "status": "succeeded" if result.status == "Succeeded" else "failed",
        "workflow": result.workflow,
        "run": result.name,
        "run_id": outputs.get("run-id"),
        "gate": outputs.get("gate"),
        "registered_version": outputs.get("model-version") or None,
        "rollout": outputs.get("decision"),
        "tasks": tasks,
    }


def local_retrain(runtime: Runtime) -> Retrain:
    """The receiver's action: run the training workflow on ``data.train`` (and its
    reference), up to ``monitoring.retraining.target`` when set."""
    data = runtime.settings.data

    def retrain(job: Retraining) -> dict[str, Any]:
        from slipway.workflow import local_run

        # Checked here, not at start: the receiver runs with any config, and records a
        # retraining it cannot run as an error, naming the setting.
        train = data.train
        if train is None:
            raise ConfigError("retraining from an alert needs data.train in the settings")
        runtime.export_storage_environment()
        result = local_run.run_training(
            runtime,
            train,
            data.reference,
            target=runtime.settings.monitoring.retraining.target,
        )
        return summarise(result)

    return retrain
