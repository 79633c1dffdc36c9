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
    SecretEnvFrom,
    script,
)
from hera.workflows import models as m

from slipway import __version__
from slipway.workflow.executor.retry import TRANSIENT_EXIT_CODE
from slipway.workflow.transient import exit_code_on_transient

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
# MLflow runs with basic auth on the cluster, and the pipeline and the rollout are separate
# MLflow users (the mlflow chart's `auth`): each step takes its user's Secret (keys
# MLFLOW_TRACKING_USERNAME, MLFLOW_TRACKING_PASSWORD, from the ml-workflows chart's
# `mlflowCredentials`). Optional, so a chart with the credentials off still starts pods; MLflow
# then refuses them with 401, which names the problem.
PIPELINE_CREDENTIALS = "mlflow-pipeline-credentials"  # a Secret's name
ROLLOUT_CREDENTIALS = "mlflow-rollout-credentials"  # a Secret's name
# The ServiceAccount the canary runs as: the serving Role (patch InferenceServices), and the
# only one whose pods are meant to carry the rollout's MLflow user (it moves `champion`).
ROLLOUT_SERVICE_ACCOUNT = "ml-rollout"
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
# Which workflow a step runs in: each step that works on the pipeline's MLflow run tags it
# with this, and the exit handler finds the run by it (a cached step's run id is older).
WORKFLOW_NAME_ENV = Env(name="SLIPWAY_WORKFLOW_NAME", value="{{workflow.name}}")
WORKFLOW_TAG = "slipway.workflow.name"

# Steps that do I/O (MLflow, S3, Prometheus, the Kubernetes API) retry what may pass: a step
# exits with 75 for a transient error (slipway.workflow.transient), with 1 for any other,
# which fails at once (bad data, a failed gate and bugs are not retried).
RETRY = m.RetryStrategy(
    limit=m.IntOrString(root="3"),
    retry_policy="OnFailure",
    expression=f"asInt(lastRetry.exitCode) == {TRANSIENT_EXIT_CODE}",
    backoff=m.Backoff(duration="5s", factor=m.IntOrString(root="2"), cap="1m"),
)
# Two rollouts of one model never overlap: the canary and the exit handler's rollback hold
# the model's mutex (Argo's synchronization; a lock file in the state folder here).
MODEL_MUTEX = m.Synchronization(
    mutexes=[m.Mutex(name="slipway-rollout-{{workflow.parameters.model-name}}")]
)
# Step caching (the local executor; annotations on the step's pod on the cluster, inert):
# steps with side effects that must happen each time are never cached, and each cached
# step names the config sections its key covers.
NEVER_CACHED = {"slipway.io/cache": "never"}


def cache_config(*sections: str) -> dict[str, str]:
    return {"slipway.io/cache-config": ",".join(sections)}


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
    retry: bool = True,
    credentials: str = PIPELINE_CREDENTIALS,
    **extra: Any,
) -> Callable[[Callable[..., Any]], Any]:
    """``@script`` with what every slipway step shares: image, runner, security, limits,
    the retry of transient errors (``retry``), the MLflow user's Secret (``credentials``)."""
    if retry:
        extra["retry_strategy"] = RETRY
    return script(
        constructor="runner",
        image=IMAGE,
        image_pull_policy="IfNotPresent",
        security_context=container_security(),
        resources=Resources(
            cpu_request=cpu[0], cpu_limit=cpu[1], memory_request=memory[0], memory_limit=memory[1]
        ),
        env=[MODEL_NAME_ENV, NO_PROGRESS_ENV, WORKFLOW_NAME_ENV, *(env or [])],
        env_from=[
            ConfigMapEnvFrom(name=PLATFORM_CONFIGMAP),
            SecretEnvFrom(name=credentials, optional=True),
        ],
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


def _claim(client: "MlflowClient", run_id: str) -> None:
    """Tag the pipeline's run with this workflow, for the exit handler to find it."""
    from slipway.config import environ

    name = environ().get("SLIPWAY_WORKFLOW_NAME", "")
    if name:
        client.set_tag(run_id, WORKFLOW_TAG, name)


# ---------------------------------------------------------------- the training pipeline


# The run it opens records the training configuration too: its key covers what later
# steps log into that run, so a new configuration gets a new run.
@_step(
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
        runtime = _runtime(config)
        outcome = validate_step(runtime.mlflow, runtime.settings, data, reference or None)
        _claim(runtime.mlflow, outcome.run_id)
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
        runtime = _runtime(config)
        settings = tuning.with_hyperparameters(runtime.settings, tuning.parse(hyperparameters))
        client = runtime.mlflow
        _claim(client, run_id)
    with exit_code_on_transient(), _fails_run(client, run_id):
        model_uri = train_step(client, settings, run_id, data)
    if model_uri:
        print(f"model: {model_uri}")


@_step(
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
        runtime = _runtime(config)
        settings, client = runtime.settings, runtime.mlflow
        _claim(client, run_id)
    with exit_code_on_transient(), _fails_run(client, run_id):
        decision = evaluate_step(client, settings, run_id, data)
    print(json.dumps(decision.as_tags(), indent=2))
    return "passed" if decision.passed else "failed"


@_step(cpu=("250m", "1"), memory=("512Mi", "2Gi"), annotations=NEVER_CACHED)
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
        runtime = _runtime(config)
        settings, client = runtime.settings, runtime.mlflow
        _claim(client, run_id)
        decision = decision_of(client, run_id)
        existing = _registered(client, settings.tracking.model_name, run_id)
    if decision.passed and existing is not None:
        print(f"already registered: {settings.tracking.model_name} version {existing[0]}")
        return existing
    with exit_code_on_transient(), _fails_run(client, run_id):
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


ROLLOUT_ENV: list[Env | SecretEnv] = [
    Env(name="SLIPWAY_ROLLOUT__BACKEND", value="{{workflow.parameters.rollout-backend}}"),
    Env(name="SLIPWAY_ROLLOUT__PROMETHEUS_URL", value="{{workflow.parameters.prometheus-url}}"),
    # Promotion may open a pull request; the Secret is optional, rollback never needs it.
    SecretEnv(
        name="GITHUB_TOKEN",
        secret_name=GIT_TOKEN_SECRET,
        secret_key="token",  # noqa: S106  (the key's name in the Secret)
        optional=True,
    ),
]


@_step(
    cpu=("200m", "1"),
    memory=("512Mi", "1Gi"),
    env=ROLLOUT_ENV,
    synchronization=MODEL_MUTEX,
    annotations=NEVER_CACHED,
    credentials=ROLLOUT_CREDENTIALS,
    service_account_name=ROLLOUT_SERVICE_ACCOUNT,
)
def canary(
    model_version: Annotated[str, Parameter(name="model-version")],
    config: str = "",
) -> Annotated[str, Parameter(name="decision", description="promoted, rolled_back or aborted")]:
    """Canary, analyse, then promote or roll back: slipway.rollout's controller, to the end."""
    from slipway.rollout.service import start_rollout

    with exit_code_on_transient():
        outcome = start_rollout(_runtime(config), model_version)
    print(json.dumps(outcome.summary(), indent=2, default=str))
    # A rollback is the platform working as meant, not a failed step: the decision is the
    # output, and it is recorded on the model version, the backend and the event log.
    return outcome.decision


# ---------------------------------------------------------------- tuning (a fan-out)


@_step(cpu=("250m", "1"), memory=("512Mi", "1Gi"), retry=False,
       annotations=cache_config("tuning"))  # fmt: skip
def propose_trials(
    trials: Annotated[str, Parameter(description="How many trials; 0: no tuning.")] = "0",
    config: str = "",
) -> Annotated[str, Parameter(name="trials", description="JSON list: trial, params.")]:
    """The trials to run, from the config's search space and sampler (pure: no I/O)."""
    from slipway.errors import ConfigError
    from slipway.workflow import tuning

    try:
        count = int(trials)
    except ValueError:
        raise ConfigError(f"tuning trials {trials!r} is not a whole number") from None
    proposed = tuning.propose(_runtime(config).settings.tuning, count)
    for trial in proposed:
        print(f"trial {trial.index}: {json.dumps(trial.params, sort_keys=True)}")
    return json.dumps([t.as_item() for t in proposed])


@_step(cpu=("1", "4"), memory=("2Gi", "8Gi"),
       annotations=cache_config("data", "training", "device"))  # fmt: skip
def tune_trial(
    run_id: Annotated[str, Parameter(name="run-id")],
    data: str,
    trial: Annotated[str, Parameter(description="The trial's number.")],
    params: Annotated[str, Parameter(description="The trial's training settings, JSON.")],
    config: str = "",
) -> None:
    """Fit with one trial's parameters: a child MLflow run of the pipeline's run."""
    from slipway.workflow import tuning

    with exit_code_on_transient():
        runtime = _runtime(config)
        loss = tuning.run_trial(
            runtime.mlflow, runtime.settings, run_id, data, int(trial), tuning.parse(params)
        )
    print(f"trial {trial}: {tuning.METRIC}={loss:.6f}")


@_step(cpu=("250m", "1"), memory=("512Mi", "1Gi"), annotations=cache_config("tuning"))
def pick_best(
    run_id: Annotated[str, Parameter(name="run-id")],
    config: str = "",
) -> Annotated[str, Parameter(name="hyperparameters", description="JSON; empty: no trials.")]:
    """The best trial's parameters (lowest validation loss), recorded on the run."""
    from slipway.workflow import tuning

    with exit_code_on_transient():
        client = _runtime(config).mlflow
        best = tuning.best_trial(client, run_id)
        if best is None:
            print("no trials: training takes the configured settings")
            return ""
        index, params = best
        client.set_tag(run_id, "slipway.tuning.best_trial", str(index))
    text = json.dumps(params, sort_keys=True)
    print(f"best trial {index}: {text}")
    return text


# ---------------------------------------------------------------- the exit handler


@_step(
    cpu=("200m", "1"),
    memory=("512Mi", "1Gi"),
    env=ROLLOUT_ENV,
    synchronization=MODEL_MUTEX,
    annotations=NEVER_CACHED,
    # It rolls back an unfinished canary (the serving Role) and marks the pipeline's run
    # FAILED (the pipeline's MLflow user: the rollout's may not write runs). A rollback
    # never moves `champion`, so the pipeline's user is enough for its version tags.
    service_account_name=ROLLOUT_SERVICE_ACCOUNT,
)
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
        runtime = _runtime(config)
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

    With ``data`` empty, what the champion served is judged instead (slipway.monitoring:
    the recorded payloads against the version's training reference, found through
    lineage; Evidently; the report on the version's run; metrics to the Pushgateway). Too
    little served data is not drift: nothing is retrained.
    """
    from slipway.data import tables
    from slipway.data.contract import load_contract
    from slipway.data.validation import validate
    from slipway.errors import DataError, StackError

    if not data:
        from slipway.monitoring import step

        rt = _runtime(config)
        try:
            pushgateway: str | None = rt.pushgateway_url()
        except StackError as exc:
            print(f"metrics not pushed: {exc}")
            pushgateway = None
        outcome = step.run(rt.mlflow, rt.settings, pushgateway_url=pushgateway)
        print(outcome.report.summary())
        return str(outcome.report.detected).lower(), ",".join(outcome.report.drifted_columns)
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
