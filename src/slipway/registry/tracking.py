"""MLflow tracking: how a run records params, lineage and the model (runtime picks the server)."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import socket
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
import torch
from mlflow.entities import Metric, Run, RunStatus
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient

import slipway
from slipway.errors import ModelError, TrackingError
from slipway.registry.lineage import environment, git_commit
from slipway.training.model_bundle import ModelBundle
from slipway.training.trainer import EpochMetrics

MODEL_ARTIFACT = "model"
MODEL_URI_TAG = "slipway.model_uri"
SLIPWAY_SRC = Path(slipway.__file__).resolve().parent


def connect(tracking_uri: str, registry_uri: str | None = None) -> MlflowClient:
    """A client for the MLflow server at ``tracking_uri`` (the runtime says which)."""
    mlflow.set_tracking_uri(tracking_uri)
    if registry_uri:
        mlflow.set_registry_uri(registry_uri)
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=registry_uri)


def require_run(client: MlflowClient, run_id: str) -> Run:
    """The run ``run_id``; a run id MLflow does not know is the user's to fix, not a crash."""
    try:
        return client.get_run(run_id)
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            raise TrackingError(
                f"MLflow at {client.tracking_uri} has no run {run_id} "
                "(the run id comes from the validate step)"
            ) from exc
        raise


def start_run(client: MlflowClient, experiment: str, run_name: str | None = None) -> str:
    found = client.get_experiment_by_name(experiment)
    experiment_id = found.experiment_id if found else client.create_experiment(experiment)
    run = client.create_run(experiment_id, run_name=run_name)
    client.set_tag(run.info.run_id, "slipway.git_commit", git_commit(SLIPWAY_SRC))
    client.set_tag(run.info.run_id, "mlflow.source.git.commit", git_commit(SLIPWAY_SRC))
    for key, value in environment().items():
        client.set_tag(run.info.run_id, f"slipway.env.{key}", value)
    return str(run.info.run_id)


#: Which process is working on a run right now (set while a step runs, cleared after):
#: "host pid start-time step". A run whose owner's process is gone was killed mid-step.
OWNER_TAG = "slipway.step.owner"
FAILURE_TAG = "slipway.failure"


def _me() -> tuple[str, int, float]:
    import psutil  # type: ignore[import-untyped]  # no stubs in the lock

    pid = os.getpid()
    return socket.gethostname(), pid, float(psutil.Process(pid).create_time())


@contextlib.contextmanager
def step_owner(client: MlflowClient, run_id: str, step: str) -> Iterator[None]:
    """Mark ``run_id`` as being worked on by this process for the length of ``step``.

    Only a step that ends (well or with an error) clears the mark: a run left RUNNING with
    the mark of a process that no longer exists was killed, and the next pipeline run ends
    it FAILED (``fail_abandoned_runs``). A run between two steps of a workflow carries no
    mark, so it is never taken for abandoned."""
    host, pid, started = _me()
    client.set_tag(run_id, OWNER_TAG, f"{host} {pid} {started:.3f} {step}")
    try:
        yield
    finally:
        with contextlib.suppress(MlflowException):
            client.set_tag(run_id, OWNER_TAG, "")


def _owner_gone(owner: str) -> bool:
    """True when ``owner`` (an OWNER_TAG value) names a process of this host that is not
    running any more; False for another host's process (it cannot be checked from here)."""
    import psutil

    parts = owner.split()
    if len(parts) != 4 or parts[0] != socket.gethostname():
        return False
    try:
        pid, started = int(parts[1]), float(parts[2])
    except ValueError:
        return False
    try:
        return abs(float(psutil.Process(pid).create_time()) - started) >= 0.05
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return True
    except psutil.AccessDenied:
        return False


def fail_abandoned_runs(client: MlflowClient, experiment: str) -> list[str]:
    """End FAILED every RUNNING run of ``experiment`` whose step's process is gone (killed:
    SIGKILL, out of memory, a reboot), saying so in its FAILURE_TAG; their ids."""
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return []
    ended = []
    runs = client.search_runs(
        [found.experiment_id], filter_string="attributes.status = 'RUNNING'", max_results=200
    )
    for run in runs:
        owner = run.data.tags.get(OWNER_TAG, "")
        if owner and _owner_gone(owner):
            step = owner.split()[-1]
            client.set_tag(
                run.info.run_id,
                FAILURE_TAG,
                f"abandoned: the process of its {step} step ({owner}) ended without finishing "
                "it (killed?); nothing of this run was registered after that step",
            )
            client.set_tag(run.info.run_id, OWNER_TAG, "")
            client.set_terminated(run.info.run_id, RunStatus.to_string(RunStatus.FAILED))
            ended.append(str(run.info.run_id))
    return ended


#: How long ending a run keeps trying while MLflow does not answer (each MLflow call
#: already retries on its own: MLFLOW_HTTP_REQUEST_MAX_RETRIES).
END_RUN_RETRY_S = float(os.environ.get("SLIPWAY_MLFLOW_END_RUN_RETRY_S", "60"))


def unreachable(exc: BaseException) -> bool:
    """True for MLflow's error when the server did not answer at all (refused, reset,
    timed out), as opposed to an answer that refused the request."""
    if not isinstance(exc, MlflowException):
        return False
    text = str(exc)
    return "API request to" in text and any(
        word in text
        for word in ("Max retries exceeded", "Connection", "Read timed out", "RemoteDisconnected")
    )


def end_run(client: MlflowClient, run_id: str, status: str) -> bool:
    """Set the run's final status, retrying with exponential backoff (tenacity) for up to
    END_RUN_RETRY_S while MLflow does not answer; False when it never did (the next pipeline
    run ends it instead: ``fail_abandoned_runs``)."""
    from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_exponential

    try:
        for attempt in Retrying(
            retry=retry_if_exception(unreachable),
            stop=stop_after_delay(END_RUN_RETRY_S),
            wait=wait_exponential(multiplier=0.5, max=10),
            reraise=True,
        ):
            with attempt:
                client.set_terminated(run_id, status)
    except MlflowException as exc:
        if not unreachable(exc):
            raise
        return False
    return True


def log_params(client: MlflowClient, run_id: str, params: dict[str, Any]) -> None:
    for key, value in params.items():
        client.log_param(
            run_id, key, json.dumps(value) if isinstance(value, list | dict) else value
        )


class EpochLogger:
    """An ``on_epoch`` callback for training.train that logs every epoch's metrics.

    Epochs are buffered and sent in one request at most every ``interval`` seconds (and on
    ``flush``): a round trip to the tracking server costs about as much as a small epoch on
    a CPU, so sending each epoch at once would halve training throughput
    (benchmarks/train_throughput.py). Long GPU epochs still appear one by one.
    """

    def __init__(self, client: MlflowClient, run_id: str, interval: float = 5.0) -> None:
        self.client, self.run_id, self.interval = client, run_id, interval
        self._pending: list[Metric] = []
        self._last_sent = time.monotonic()

    def __call__(self, m: EpochMetrics) -> None:
        now = int(time.time() * 1000)
        self._pending += [Metric(key, value, now, m.epoch) for key, value in m.as_dict().items()]
        if time.monotonic() - self._last_sent >= self.interval:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            self.client.log_batch(self.run_id, metrics=self._pending)
            self._pending = []
        self._last_sent = time.monotonic()


def log_json(client: MlflowClient, run_id: str, payload: str, name: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_text(payload, encoding="utf-8")
        client.log_artifact(run_id, str(path))


def pip_requirements() -> list[str]:
    # Explicit, because MLflow's inference drops torch's local build tag (+cpu) and then
    # resolves to a different build; slipway's own code travels in code_paths.
    from importlib import metadata

    env = environment()
    return [
        f"mlflow=={env['mlflow']}",
        f"torch=={torch.__version__.split('+')[0]}",
        f"numpy=={env['numpy']}",
        f"pandas=={env['pandas']}",
        f"safetensors=={metadata.version('safetensors')}",  # bundle.weights imports it
        "pydantic>=2.9,<3",
        "ruamel.yaml>=0.18",
    ]


def _factory_code(bundle: ModelBundle, folder: Path) -> list[str]:
    """A custom network's code, copied for the model's code_paths: the top-level package
    (or module) of its factory, Python files only. MLflow puts code_paths on sys.path
    when it loads the model, so the factory imports wherever the model is loaded."""
    spec = bundle.network.spec
    if spec.kind != "custom" or spec.factory is None:
        return []
    top = spec.factory.partition(":")[0].split(".")[0]
    found = importlib.util.find_spec(top)
    if found is None or (found.origin is None and not found.submodule_search_locations):
        raise ModelError(f"network factory {spec.factory!r}: cannot find the code of {top}")
    if found.submodule_search_locations:  # a package: its folder, without data files
        source = Path(next(iter(found.submodule_search_locations)))
        target = folder / top
        shutil.copytree(source, target, ignore=_not_python, dirs_exist_ok=True)
    else:
        target = folder / Path(str(found.origin)).name
        shutil.copy2(str(found.origin), target)
    return [str(target)]


def _not_python(folder: str, names: list[str]) -> set[str]:
    return {
        n for n in names
        if n == "__pycache__" or (not n.endswith(".py") and not Path(folder, n).is_dir())
    }  # fmt: skip


def log_model(run_id: str, bundle: ModelBundle, example: pd.DataFrame) -> str:
    """Log the bundle as an MLflow pyfunc model in ``run_id``; returns its model URI."""
    features = example[[c.name for c in bundle.contract.features]].head(5).reset_index(drop=True)
    # The signature follows the contract: int columns are long, floats double. (MLflow
    # refuses int64 input for a double column, so widening ints would break clients.)
    with tempfile.TemporaryDirectory() as tmp:
        bundle_dir = bundle.save(Path(tmp) / "bundle")
        code = Path(tmp) / "code" / "slipway"
        shutil.copytree(SLIPWAY_SRC, code, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        code_paths = [str(code), *_factory_code(bundle, Path(tmp) / "code")]
        with mlflow.start_run(run_id=run_id), warnings.catch_warnings():
            # MLflow hints that int columns cannot hold nulls; the contract already says so.
            warnings.filterwarnings("ignore", message=".*integer column", category=UserWarning)
            info = mlflow.pyfunc.log_model(
                name=MODEL_ARTIFACT,
                loader_module="slipway.registry.pyfunc_loader",
                data_path=str(bundle_dir),
                code_paths=code_paths,
                signature=infer_signature(features, bundle.predict_frame(features)),
                input_example=features,
                pip_requirements=pip_requirements(),
            )
    # MLflow 3 keeps the model as a LoggedModel (models:/m-...), not under the run's artifacts.
    client = MlflowClient()
    client.set_tag(run_id, MODEL_URI_TAG, info.model_uri)
    # Leaving mlflow.start_run's block ended the run FINISHED; evaluation and registration
    # are still to come, and a pipeline killed during them must not leave it looking done.
    client.update_run(run_id, status=RunStatus.to_string(RunStatus.RUNNING))
    return str(info.model_uri)


def model_uri_of(client: MlflowClient, run_id: str) -> str:
    uri = require_run(client, run_id).data.tags.get(MODEL_URI_TAG)
    if not uri:
        raise TrackingError(f"run {run_id} has no logged model (tag {MODEL_URI_TAG} missing)")
    return str(uri)
