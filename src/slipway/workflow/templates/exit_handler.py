"""The workflow's exit handler: after the DAG, whatever its end, it marks a failed
pipeline's MLflow run FAILED with the reason and rolls back a canary left unfinished."""

# No `from __future__ import annotations` here: Hera reads the step functions'
# annotations as objects (Annotated[str, Parameter(...)]), not as strings.
import json
from typing import Annotated

from hera.workflows import Parameter

from slipway.workflow.templates.common import (
    PIPELINE_CREDENTIALS,
    WORKFLOW_TAG,
    rollout_step,
    step_runtime,
)
from slipway.workflow.transient import exit_code_on_transient


# It rolls back an unfinished canary (the serving Role) and marks the pipeline's run FAILED
# (the pipeline's MLflow user: the rollout's may not write runs). A rollback never moves
# `champion`, so the pipeline's user is enough for its version tags.
@rollout_step(credentials=PIPELINE_CREDENTIALS)
def on_exit(
    status: Annotated[str, Parameter(description="The workflow's status: Succeeded, Failed.")],
    failures: Annotated[str, Parameter(description="Argo's failed nodes, a JSON list.")] = "[]",
    config: str = "",
) -> Annotated[str, Parameter(name="outcome", description="What the handler did.")]:
    """After the DAG, whatever its end: on failure, the pipeline's run is marked FAILED with
    the reason, and a rollout of the model that did not finish is rolled back."""
    from mlflow.entities import RunStatus

    from slipway.config import environ
    from slipway.rollout.service import roll_back_unfinished

    if status == "Succeeded":
        print("the workflow succeeded: nothing to undo")
        return "nothing to do"
    reason = _failure_reason(failures)
    done = []
    with exit_code_on_transient():
        runtime = step_runtime(config)
        client, settings = runtime.mlflow, runtime.settings
        name = environ().get("SLIPWAY_WORKFLOW_NAME", "")
        experiment = client.get_experiment_by_name(settings.tracking.experiment)
        runs = (
            client.search_runs(
                [experiment.experiment_id], filter_string=f"tags.`{WORKFLOW_TAG}` = '{name}'"
            )
            if name and experiment is not None
            else []
        )
        for run in runs:
            client.set_tag(run.info.run_id, "slipway.workflow.failure", reason[:5000])
            client.set_terminated(run.info.run_id, RunStatus.to_string(RunStatus.FAILED))
            done.append(f"run {run.info.run_id} marked FAILED")
        done.append(roll_back_unfinished(settings, settings.tracking.model_name))
    summary = "; ".join(done)
    print(f"the workflow {status.lower()}: {reason}\n{summary}")
    return summary


def _failure_reason(failures: str) -> str:
    """One line per failed node of ``{{workflow.failures}}``."""
    try:
        nodes = json.loads(failures or "[]")
    except ValueError:
        return failures
    if not isinstance(nodes, list) or not nodes:
        return "the workflow failed"
    return "; ".join(
        f"{n.get('displayName', '?')}: {n.get('message', '')}" for n in nodes if isinstance(n, dict)
    )
