"""The training pipeline's steps: validate, train (torchrun over the pod's GPUs), evaluate
and gate, register, and the canary that promotes or rolls back."""

# No `from __future__ import annotations` here: Hera reads the step functions'
# annotations as objects (Annotated[str, Parameter(...)]), not as strings.
import json
from typing import TYPE_CHECKING, Annotated

from hera.workflows import EmptyDirVolume, Parameter
from hera.workflows import models as m

from slipway.workflow.templates.common import (
    NEVER_CACHED,
    ROLLOUT_CREDENTIALS,
    cache_config,
    claim_run,
    fails_run,
    rollout_step,
    step,
    step_runtime,
)
from slipway.workflow.transient import exit_code_on_transient

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient


# The run it opens records the training configuration too: its key covers what later
# steps log into that run, so a new configuration gets a new run.
@step(
    cpu=("500m", "2"),
    memory=("1Gi", "4Gi"),
    annotations=cache_config("data", "validation", "training", "tuning", "tracking"),
)
def validate_data(
    data: Annotated[str, Parameter(description="Training data: s3://bucket/key or a path.")],
    reference: Annotated[
        str, Parameter(description="Reference data for drift checks; empty skips them.")
    ] = "",
    config: Annotated[str, Parameter(description="Config YAML; empty: the packaged one.")] = "",
) -> Annotated[str, Parameter(name="run-id", description="The pipeline's MLflow run.")]:
    """Open the pipeline's MLflow run and validate the data; bad data fails the step."""
    from slipway.errors import DataError
    from slipway.pipeline.steps import validate_step

    with exit_code_on_transient():
        runtime = step_runtime(config)
        outcome = validate_step(runtime.mlflow, runtime.settings, data, reference or None)
        claim_run(runtime.mlflow, outcome.run_id)
    print(outcome.report.to_table())
    if not outcome.report.passed:
        # The run is already FAILED with its report attached; the DAG must stop here.
        raise DataError("data validation failed: " + "; ".join(outcome.report.failures))
    return outcome.run_id


# On the cluster this step runs under torchrun, one process per GPU of its pod, each
# running Hera's runner and so this function; train_step makes rank 0 the only writer.
TORCHRUN = ["torchrun", "--standalone", "--nproc-per-node", "{{inputs.parameters.gpus}}"]
GPU_NODE_SELECTOR = {"slipway.io/node-pool": "gpu"}
GPU_TOLERATION = m.Toleration(
    key="nvidia.com/gpu", operator="Equal", value="true", effect="NoSchedule"
)
# Resource quantities cannot hold a template variable, so the GPU count is patched into the
# pod spec (Argo's documented way to parameterise resources); "main" is the step's container.
GPU_PATCH = json.dumps(
    {
        "containers": [
            {
                "name": "main",
                "resources": {"limits": {"nvidia.com/gpu": "{{inputs.parameters.gpus}}"}},
            }
        ]
    },
    separators=(",", ":"),
)


@step(
    cpu=("2", "8"),
    memory=("8Gi", "16Gi"),
    # NCCL moves tensors between the ranks through shared memory; the default 64Mi is too small.
    volumes=[
        EmptyDirVolume(
            name="dshm",
            mount_path="/dev/shm",  # noqa: S108  (the pod's own memory-backed volume)
            medium="Memory",
            size_limit=m.Quantity("4Gi"),
        )
    ],
    command=TORCHRUN,
    inputs=[Parameter(name="gpus", description="GPUs of the pod, one training process each.")],
    node_selector=GPU_NODE_SELECTOR,
    tolerations=[GPU_TOLERATION],
    pod_spec_patch=GPU_PATCH,
    annotations=cache_config("data", "training", "tracking", "device"),
)
def train(
    run_id: Annotated[str, Parameter(name="run-id")],
    data: str,
    config: str = "",
    hyperparameters: Annotated[
        str, Parameter(description="JSON training settings (the best trial's); empty: config.")
    ] = "",
) -> None:
    """Fit the model on the train split and log it to the run (DDP over the pod's GPUs)."""
    from slipway.pipeline.steps import train_step
    from slipway.workflow import tuning

    with exit_code_on_transient():
        runtime = step_runtime(config)
        settings = tuning.with_hyperparameters(runtime.settings, tuning.parse(hyperparameters))
        client = runtime.mlflow
        claim_run(client, run_id)
    with exit_code_on_transient(), fails_run(client, run_id):
        model_uri = train_step(client, settings, run_id, data)
    if model_uri:
        print(f"model: {model_uri}")


@step(
    cpu=("500m", "2"),
    memory=("1Gi", "4Gi"),
    annotations=cache_config("data", "training", "gate", "tracking"),
)
def evaluate(
    run_id: Annotated[str, Parameter(name="run-id")],
    data: str,
    config: str = "",
) -> Annotated[str, Parameter(name="gate", description="passed or failed")]:
    """Score challenger and champion on the held-out rows and apply the gate."""
    from slipway.pipeline.steps import evaluate_step

    with exit_code_on_transient():
        runtime = step_runtime(config)
        settings, client = runtime.settings, runtime.mlflow
        claim_run(client, run_id)
    with exit_code_on_transient(), fails_run(client, run_id):
        decision = evaluate_step(client, settings, run_id, data)
    print(json.dumps(decision.as_tags(), indent=2))
    return "passed" if decision.passed else "failed"


@step(cpu=("250m", "1"), memory=("512Mi", "2Gi"), annotations=NEVER_CACHED)
def register(
    run_id: Annotated[str, Parameter(name="run-id")],
    config: str = "",
) -> tuple[
    Annotated[str, Parameter(name="model-version", description="Empty when the gate failed.")],
    Annotated[str, Parameter(name="became-champion", description="true for a first model")],
]:
    """Register the model when its gate passed, and end the run either way.

    Idempotent: a run whose model is registered already (a retry, a rerun over cached
    steps) gets that version back rather than a second one."""
    from slipway.pipeline.steps import decision_of, register_step

    with exit_code_on_transient():
        runtime = step_runtime(config)
        settings, client = runtime.settings, runtime.mlflow
        claim_run(client, run_id)
        decision = decision_of(client, run_id)
        existing = _registered(client, settings.tracking.model_name, run_id)
    if decision.passed and existing is not None:
        print(f"already registered: {settings.tracking.model_name} version {existing[0]}")
        return existing
    with exit_code_on_transient(), fails_run(client, run_id):
        registration = register_step(client, settings, run_id, decision)
    if registration is None:
        print("gate failed: nothing registered")
        return "", "false"
    print(f"registered {registration.name} version {registration.version}")
    return registration.version, str(registration.became_champion).lower()


def _registered(client: "MlflowClient", model: str, run_id: str) -> tuple[str, str] | None:
    """(version, became-champion) of the run's registered model, if it has one."""
    from slipway.registry import aliases

    version = client.get_run(run_id).data.tags.get("slipway.registered_version")
    if not version:
        return None
    champion = aliases.version_by_alias(client, model, aliases.CHAMPION)
    first = champion is not None and str(champion.version) == version
    return version, str(first).lower()


@rollout_step(credentials=ROLLOUT_CREDENTIALS)
def canary(
    model_version: Annotated[str, Parameter(name="model-version")],
    config: str = "",
) -> Annotated[str, Parameter(name="decision", description="promoted, rolled_back or aborted")]:
    """Canary, analyse, then promote or roll back: slipway.rollout's controller, to the end."""
    from slipway.rollout.service import start_rollout

    with exit_code_on_transient():
        outcome = start_rollout(step_runtime(config), model_version)
    print(json.dumps(outcome.summary(), indent=2, default=str))
    # A rollback is the platform working as meant, not a failed step: the decision is the
    # output, and it is recorded on the model version, the backend and the event log.
    return outcome.decision
