"""The pipeline's steps as Hera script templates, run by Hera's runner in slipway's image.

Each function is a whole step: its parameters are the template's input parameters, its
return annotation names the output parameters, and its body is a thin call into
slipway.pipeline.steps (or slipway.rollout). On the cluster Argo starts
``python -m hera.workflows.runner -e slipway.workflow.runner_scripts:<function>`` in a pod; locally
slipway.workflow.local_executor calls the same function in-process. Steps hand over
through the MLflow run id and the registry, never through memory or files.

Heavy imports (torch, MLflow) happen inside the functions, so that rendering the
workflows, which imports this module, stays fast.

Settings reach a step three ways, as everywhere in slipway: the ``config`` input (a YAML
path; empty means the packaged configuration), ``SLIPWAY_*`` variables that the templates
set from workflow parameters, and the ``slipway-platform`` ConfigMap (MLflow tracking URI).
"""

# No `from __future__ import annotations` here: Hera reads the step functions'
# annotations as objects (Annotated[str, Parameter(...)]), not as strings.
import contextlib
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from hera.workflows import (
    ConfigMapEnvFrom,
    EmptyDirVolume,
    Env,
    Parameter,
    Resources,
    SecretEnv,
    script,
)
from hera.workflows import models as m

from slipway import __version__

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

    from slipway.runtime import Runtime

log = logging.getLogger(__name__)

# The steps' image (images/trainer/Dockerfile) at the release's tag, which the release build
# pushes; the ml-workflows chart puts its `image` value (a digest, once images.yml's pull
# request has set it) in place of this reference at template time.
IMAGE = f"ghcr.io/slipway-ml/slipway-trainer:{__version__}"
PLATFORM_CONFIGMAP = "slipway-platform"  # the ml-workflows chart's settings for every step
# The ml-workflows chart's ExternalSecret target (key `token`): a name, not a credential.
GIT_TOKEN_SECRET = "git-token"  # noqa: S105
RUN_AS = 10001
# The only writable place in a step's pod (the root filesystem is read-only): temporary
# files, Hera's output files, and the working directory, where the rollout keeps its state.
SCRATCH = "/tmp"  # noqa: S108  (an emptyDir volume of the pod, not a shared host /tmp)

# Settings that vary per run come from workflow parameters, through slipway's own
# ``SLIPWAY_<SECTION>__<KEY>`` override mechanism.
MODEL_NAME_ENV = Env(
    name="SLIPWAY_TRACKING__MODEL_NAME", value="{{workflow.parameters.model-name}}"
)
NO_PROGRESS_ENV = Env(name="SLIPWAY_TRAINING__PROGRESS", value="false")


# What the pod and each of its containers both say: a user of its own, never root, and the
# container runtime's default seccomp profile.
_NON_ROOT: dict[str, Any] = {
    "run_as_non_root": True,
    "run_as_user": RUN_AS,
    "run_as_group": RUN_AS,
    "seccomp_profile": m.SeccompProfile(type="RuntimeDefault"),
}


def container_security() -> m.SecurityContext:
    """The restricted profile: non-root, read-only root, no capabilities, RuntimeDefault."""
    return m.SecurityContext(
        **_NON_ROOT,
        read_only_root_filesystem=True,
        allow_privilege_escalation=False,
        privileged=False,
        capabilities=m.Capabilities(drop=["ALL"]),
    )


def pod_security() -> m.PodSecurityContext:
    return m.PodSecurityContext(**_NON_ROOT, fs_group=RUN_AS)


def _step(
    cpu: tuple[str, str],
    memory: tuple[str, str],
    env: list[Env | SecretEnv] | None = None,
    volumes: list[EmptyDirVolume] | None = None,
    **extra: Any,
) -> Callable[[Callable[..., Any]], Any]:
    """``@script`` with what every slipway step shares: image, runner, security, limits."""
    return script(
        constructor="runner",
        image=IMAGE,
        image_pull_policy="IfNotPresent",
        security_context=container_security(),
        resources=Resources(
            cpu_request=cpu[0], cpu_limit=cpu[1], memory_request=memory[0], memory_limit=memory[1]
        ),
        env=[MODEL_NAME_ENV, NO_PROGRESS_ENV, *(env or [])],
        env_from=[ConfigMapEnvFrom(name=PLATFORM_CONFIGMAP)],
        volumes=[
            EmptyDirVolume(name="tmp", mount_path=SCRATCH, size_limit=m.Quantity("2Gi")),
            *(volumes or []),
        ],
        working_dir=SCRATCH,
        **extra,
    )


# ---------------------------------------------------------------- helpers the steps share


def _runtime(config: str) -> "Runtime":
    """The step's composition root: its settings, and the platform it runs on."""
    from slipway.runtime import Runtime

    runtime = Runtime.load(_path(config))
    runtime.export_storage_environment()  # locally: the stack's S3; on the cluster: IRSA's
    return runtime


@contextlib.contextmanager
def _fails_run(client: "MlflowClient", run_id: str) -> Iterator[None]:
    """A step that raises ends the pipeline's MLflow run FAILED, as run_pipeline does in one
    process; in a DAG nothing else would, and the run would stay RUNNING forever."""
    try:
        yield
    except BaseException:
        from mlflow.entities import RunStatus

        try:
            client.set_terminated(run_id, RunStatus.to_string(RunStatus.FAILED))
        except Exception as exc:  # the step's own error matters more than this one
            log.warning("could not mark run %s failed: %s", run_id, exc)
        raise


def _path(value: str) -> Path | None:
    return Path(value) if value else None


# ---------------------------------------------------------------- the training pipeline


@_step(cpu=("500m", "2"), memory=("1Gi", "4Gi"))
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

    runtime = _runtime(config)
    outcome = validate_step(runtime.mlflow, runtime.settings, data, reference or None)
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


@_step(
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
)
def train(
    run_id: Annotated[str, Parameter(name="run-id")],
    data: str,
    config: str = "",
) -> None:
    """Fit the model on the train split and log it to the run (DDP over the pod's GPUs)."""
    from slipway.pipeline.steps import train_step

    runtime = _runtime(config)
    settings, client = runtime.settings, runtime.mlflow
    with _fails_run(client, run_id):
        model_uri = train_step(client, settings, run_id, data)
    if model_uri:
        print(f"model: {model_uri}")


@_step(cpu=("500m", "2"), memory=("1Gi", "4Gi"))
def evaluate(
    run_id: Annotated[str, Parameter(name="run-id")],
    data: str,
    config: str = "",
) -> Annotated[str, Parameter(name="gate", description="passed or failed")]:
    """Score challenger and champion on the held-out rows and apply the gate."""
    from slipway.pipeline.steps import evaluate_step

    runtime = _runtime(config)
    settings, client = runtime.settings, runtime.mlflow
    with _fails_run(client, run_id):
        decision = evaluate_step(client, settings, run_id, data)
    print(json.dumps(decision.as_tags(), indent=2))
    return "passed" if decision.passed else "failed"


@_step(cpu=("250m", "1"), memory=("512Mi", "2Gi"))
def register(
    run_id: Annotated[str, Parameter(name="run-id")],
    config: str = "",
) -> tuple[
    Annotated[str, Parameter(name="model-version", description="Empty when the gate failed.")],
    Annotated[str, Parameter(name="became-champion", description="true for a first model")],
]:
    """Register the model when its gate passed, and end the run either way."""
    from slipway.pipeline.steps import decision_of, register_step

    runtime = _runtime(config)
    settings, client = runtime.settings, runtime.mlflow
    with _fails_run(client, run_id):
        registration = register_step(client, settings, run_id, decision_of(client, run_id))
    if registration is None:
        print("gate failed: nothing registered")
        return "", "false"
    print(f"registered {registration.name} version {registration.version}")
    return registration.version, str(registration.became_champion).lower()


@_step(
    cpu=("200m", "1"),
    memory=("512Mi", "1Gi"),
    env=[
        Env(name="SLIPWAY_ROLLOUT__BACKEND", value="{{workflow.parameters.rollout-backend}}"),
        Env(name="SLIPWAY_ROLLOUT__PROMETHEUS_URL", value="{{workflow.parameters.prometheus-url}}"),
        # Promotion may open a pull request; the Secret is optional, rollback never needs it.
        SecretEnv(
            name="GITHUB_TOKEN",
            secret_name=GIT_TOKEN_SECRET,
            secret_key="token",  # noqa: S106  (the key's name in the Secret)
            optional=True,
        ),
    ],
)
def canary(
    model_version: Annotated[str, Parameter(name="model-version")],
    config: str = "",
) -> Annotated[str, Parameter(name="decision", description="promoted, rolled_back or aborted")]:
    """Canary, analyse, then promote or roll back: slipway.rollout's controller, to the end."""
    from slipway.rollout.service import start_rollout

    outcome = start_rollout(_runtime(config), model_version)
    print(json.dumps(outcome.summary(), indent=2, default=str))
    # A rollback is the platform working as meant, not a failed step: the decision is the
    # output, and it is recorded on the model version, the backend and the event log.
    return outcome.decision


# ---------------------------------------------------------------- the drift monitor


@_step(cpu=("500m", "2"), memory=("1Gi", "4Gi"))
def check_drift(
    data: Annotated[str, Parameter(description="The latest data.")],
    reference: Annotated[str, Parameter(description="The data the champion was trained on.")],
    config: str = "",
) -> tuple[
    Annotated[str, Parameter(name="drift", description="true when a distribution drifted")],
    Annotated[str, Parameter(name="drifted-columns", description="comma-separated")],
]:
    """`slipway data validate DATA --reference REF`, with drift told apart from breakage.

    The command's exit status is 1 for drift, for a broken contract and for an unreadable
    file alike; only drift should start retraining. Data that breaks the contract fails
    this step instead (on-call sees a failed run), and retraining is not started.
    """
    from slipway.data import tables
    from slipway.data.contract import load_contract
    from slipway.data.validation import validate
    from slipway.errors import DataError

    settings = _runtime(config).settings
    frame = tables.read_table(data)
    report = validate(
        frame,
        load_contract(settings.data.contract),
        settings.validation,
        tables.table_digest(frame),
        tables.read_table(reference),
    )
    print(report.to_table())
    if report.findings:
        raise DataError("the latest data breaks its contract: " + "; ".join(report.failures))
    drifted = sorted({check.column for check in report.drift if not check.passed})
    return str(bool(drifted)).lower(), ",".join(drifted)
