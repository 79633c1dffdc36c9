"""What every step template shares: the image, the pod's security, limits, retries, the
model's mutex, caching annotations, and the helpers a step's body starts with.

The steps themselves are in this package's other modules, one per part of the platform.
"""

# No `from __future__ import annotations` here: Hera reads the step functions'
# annotations as objects (Annotated[str, Parameter(...)]), not as strings.
import contextlib
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hera.workflows import (
    ConfigMapEnvFrom,
    EmptyDirVolume,
    Env,
    Resources,
    SecretEnv,
    SecretEnvFrom,
    script,
)
from hera.workflows import models as m

from slipway import __version__
from slipway.workflow.executor.retry import TRANSIENT_EXIT_CODE

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


def step(
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


def step_runtime(config: str) -> "Runtime":
    """The step's composition root: its settings, and the platform it runs on."""
    from slipway.runtime import Runtime

    runtime = Runtime.load(_path(config))
    runtime.export_storage_environment()  # locally: the stack's S3; on the cluster: IRSA's
    return runtime


@contextlib.contextmanager
def fails_run(client: "MlflowClient", run_id: str) -> Iterator[None]:
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


def claim_run(client: "MlflowClient", run_id: str) -> None:
    """Tag the pipeline's run with this workflow, for the exit handler to find it."""
    from slipway.config import environ

    name = environ().get("SLIPWAY_WORKFLOW_NAME", "")
    if name:
        client.set_tag(run_id, WORKFLOW_TAG, name)


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


def rollout_step(credentials: str) -> Callable[[Callable[..., Any]], Any]:
    """``@step`` for the two steps that change the model's InferenceService (the canary and
    the exit handler's rollback): the serving Role, the model's mutex, never cached."""
    return step(
        cpu=("200m", "1"),
        memory=("512Mi", "1Gi"),
        env=ROLLOUT_ENV,
        synchronization=MODEL_MUTEX,
        annotations=NEVER_CACHED,
        credentials=credentials,
        service_account_name=ROLLOUT_SERVICE_ACCOUNT,
    )
