"""The container runner: the training WorkflowTemplate's steps in their image, with podman.

Nothing is faked: the image is slipway's trainer image (localhost/slipway-trainer:dev,
built by scripts/build_images.py, the same command as ``make images``, when it is missing),
podman runs each step under runc with the repository's containers.conf as Argo would start
its pod (UID 10001, read-only root, /tmp an emptyDir), MLflow is ``mlflow server`` in its
own process (SQLite, proxied artifacts) on a loopback port that the containers reach over
the host network. The same workflow runs in-process on the same data, and both runs must
agree: parameters, outputs, the registered version's data digest, metrics and weights.

Where podman cannot run, the tests that need it skip, unless SLIPWAY_REQUIRE_PODMAN=1 (CI),
where they fail instead.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from mlflow.tracking import MlflowClient
from podman_support import (
    CONTAINERS_CONF,
    image_exists,
    load_script,
    podman_env,
    require_podman,
)
from s3_support import AWS_VARIABLES, S3, start_session_s3
from safetensors.numpy import load_file
from typer.testing import CliRunner

from slipway.cli import app
from slipway.data import synthetic, tables
from slipway.errors import StepFailed, WorkflowError
from slipway.local.processes import Managed
from slipway.local.stack import start_mlflow
from slipway.workflow import definitions
from slipway.workflow.executor import (
    ContainerSteps,
    ImageMap,
    LocalExecutor,
    Mount,
    RunResult,
    compile_workflow,
)
from slipway.workflow.executor.containers import repository
from slipway.workflow.executor.pod import ScratchMount
from slipway.workflow.templates import common

TRAINER = "localhost/slipway-trainer:dev"
# The templates' image, whatever tag or digest the release process gives it, is the trainer.
IMAGES = ImageMap({repository(common.IMAGE): TRAINER})
EPOCHS = "3"
# Metrics that measure the machine, not the model: an epoch's seconds, and the throughput.
TIMINGS = {"seconds", "train_samples_per_second"}


# ------------------------------------------------------------------ no podman needed


def test_the_rendered_templates_become_the_pods_argo_would_start() -> None:
    plan = compile_workflow(definitions.train_and_promote(), {})
    specs = {t.name: t.template.container for t in plan.tasks}
    train, register = specs["train"], specs["register"]
    assert train is not None and register is not None
    assert train.image == register.image == common.IMAGE
    assert train.command == ["torchrun", "--standalone", "--nproc-per-node",
                             "{{inputs.parameters.gpus}}"]  # fmt: skip
    assert train.args == ["-m", "hera.workflows.runner", "-e",
                          "slipway.workflow.templates.pipeline:train"]  # fmt: skip
    assert (train.user, train.group, train.working_dir) == (10001, 10001, "/tmp")
    assert train.read_only_root and train.drop_all_capabilities and train.no_new_privileges
    assert train.scratch == [ScratchMount("/tmp", "2Gi"), ScratchMount("/dev/shm", "4Gi")]
    assert register.outputs == {
        "model-version": "/tmp/hera-outputs/parameters/model-version",
        "became-champion": "/tmp/hera-outputs/parameters/became-champion",
    }


def test_image_map_entries_and_their_errors() -> None:
    images = ImageMap.parse(["ghcr.io/slipway-ml/slipway-trainer=localhost/t:dev",
                             "registry:5000/x:1=localhost/x:one"])  # fmt: skip
    assert images.resolve("ghcr.io/slipway-ml/slipway-trainer:0.2.0") == "localhost/t:dev"
    assert images.resolve("ghcr.io/slipway-ml/slipway-trainer@sha256:" + "a" * 64) == (
        "localhost/t:dev"
    )
    assert images.resolve("registry:5000/x:1") == "localhost/x:one"
    assert images.resolve("registry:5000/x:2") == "registry:5000/x:2"  # unmapped: as it is
    for bad in ["no-equals-sign", "=localhost/x", "a=", "a=b=c"]:
        with pytest.raises(WorkflowError, match="expected TEMPLATE_IMAGE=LOCAL_IMAGE"):
            ImageMap.parse([bad])


def test_the_cli_refuses_a_bad_image_map_and_a_canary_in_containers(tmp_path: Path) -> None:
    """Before anything starts: one ``error:`` line naming what is wrong."""
    base = ["workflow", "run-local", "--data", "x.csv", "--state-dir", str(tmp_path / "state")]
    cases = {
        ("--runner", "container", "--until", "register", "--image-map", "nonsense"): "nonsense",
        ("--runner", "container"): "--until register",
        ("--image-map", "a=b"): "--runner container",
    }
    for extra, named in cases.items():
        done = CliRunner().invoke(app, [*base, *extra])
        errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
        assert done.exit_code == 1 and len(errors) == 1, done.output
        assert named in errors[0]
        assert not (tmp_path / "state").exists()  # no stack was started


# ------------------------------------------------------------------ podman


@pytest.fixture(scope="module")
def podman() -> None:
    require_podman()


def _steps_missing_from(image: str) -> list[str]:
    """The step functions the templates name that the image's slipway lacks (an image built
    before they were written)."""
    plan = compile_workflow(definitions.train_and_promote(), {})
    tasks = [*plan.tasks, *(plan.on_exit.nested or [] if plan.on_exit else [])]
    names = sorted({f"{t.template.function.__module__}:{t.template.function.__name__}"
                    for t in tasks if t.template.function})  # fmt: skip
    probe = (
        "import importlib\n"
        "def found(name):\n"
        "    module, function = name.split(':')\n"
        "    try:\n"
        "        return hasattr(importlib.import_module(module), function)\n"
        "    except ImportError:\n"
        "        return False\n"
        f"print(','.join(n for n in {names!r} if not found(n)))\n"
    )
    done = subprocess.run(
        ["podman", "run", "--rm", "--pull", "never", "--runtime", "runc",
         "--entrypoint", "python", image, "-c", probe],
        env=podman_env(), capture_output=True, text=True, check=True,
    )  # fmt: skip
    return [n for n in done.stdout.strip().split(",") if n]


@pytest.fixture(scope="module")
def trainer_image(podman: None) -> str:
    """The trainer image, built through scripts/build_images.py when it is missing (cached
    layers make that seconds once it has been built). An image older than the source (it
    lacks a step the templates run) is rebuilt where podman is required (CI), and its tests
    skip elsewhere, naming `make images`."""
    build_images = load_script("build_images")
    if not image_exists(TRAINER):
        assert build_images.main(["build", "--images", "trainer"]) == 0, "the trainer build failed"
    assert image_exists(TRAINER)
    missing = _steps_missing_from(TRAINER)
    if missing and os.environ.get("SLIPWAY_REQUIRE_PODMAN") == "1":
        assert build_images.main(["build", "--images", "trainer"]) == 0, "the trainer build failed"
        missing = _steps_missing_from(TRAINER)
        assert not missing, f"{TRAINER} rebuilt still lacks the steps {missing}"
    if missing:
        pytest.skip(f"{TRAINER} is older than the source (no step {missing}): `make images`")
    return TRAINER


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Managed]:
    server = start_mlflow(tmp_path_factory.mktemp("container-run-mlflow"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("container-run-data")
    folder.chmod(0o755)  # the steps' user (10001) reads it; pytest makes it 0700
    path = folder / "train.csv"
    tables.write_table(synthetic.generate(3000, seed=1), path)
    return path


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The in-process steps see this process's environment under theirs; a pod sees only
    its own. Nothing of the shell's may make the two runs differ."""
    for key in list(os.environ):
        if key.startswith(("SLIPWAY_", "MLFLOW_")):
            monkeypatch.delenv(key)


def _config_maps(server: Managed, state: Path) -> dict[str, dict[str, str]]:
    # Both runners get the same ConfigMap: the tracking URI, and few epochs.
    return {
        common.PLATFORM_CONFIGMAP: {
            "MLFLOW_TRACKING_URI": server.url,
            "SLIPWAY_HOME": str(state),
            "SLIPWAY_TRAINING__EPOCHS": EPOCHS,
        }
    }


def _arguments(data: Path, model: str) -> dict[str, str]:
    return {"data": str(data), "model-name": model, "rollout-backend": "local"}


def _steps(lines: list[str], data: Path) -> ContainerSteps:
    return ContainerSteps(IMAGES, [Mount(data.parent)], CONTAINERS_CONF, lines.append)


def _weights(client: MlflowClient, model: str, folder: Path) -> dict[str, np.ndarray[Any, Any]]:
    import mlflow

    mlflow.set_tracking_uri(client.tracking_uri)
    path = Path(mlflow.artifacts.download_artifacts(f"models:/{model}/1", dst_path=str(folder)))
    files = sorted(path.rglob("*.safetensors"))
    assert files, f"no safetensors weights in {model} version 1: {sorted(path.rglob('*'))}"
    return {f"{f.name}:{k}": v for f in files for k, v in load_file(f).items()}


@pytest.mark.integration
@pytest.mark.slow
def test_training_in_containers_registers_what_the_in_process_run_registers(
    trainer_image: str,
    mlflow_server: Managed,
    data: Path,
    tmp_path: Path,
    clean_env: None,
) -> None:
    config_maps = _config_maps(mlflow_server, tmp_path / "state")
    workflow = definitions.train_and_promote()

    start = time.monotonic()
    here = LocalExecutor(config_maps).run(workflow, _arguments(data, "same-here"), "register")
    here_seconds = time.monotonic() - start
    lines: list[str] = []
    start = time.monotonic()
    there = LocalExecutor(config_maps, steps=_steps(lines, data)).run(
        workflow, _arguments(data, "same-there"), "register"
    )
    there_seconds = time.monotonic() - start
    print(
        f"\ntrain-and-promote to register: in-process {here_seconds:.1f}s "
        f"({_task_times(here)}), in containers {there_seconds:.1f}s ({_task_times(there)})"
    )
    here.raise_for_failure()
    assert there.status == "Succeeded", "\n".join(lines[-60:])

    # Same parameters and outputs (the run ids differ: two runs).
    assert {k: v for k, v in here.parameters.items() if k != "model-name"} == {
        k: v for k, v in there.parameters.items() if k != "model-name"
    }
    assert [(t.name, t.status) for t in here.tasks] == [(t.name, t.status) for t in there.tasks]
    for name in ("propose-trials", "pick-best", "train", "evaluate", "register"):
        assert here.task(name).outputs == there.task(name).outputs
    assert here.task("on-exit").outputs == there.task("on-exit").outputs
    assert there.task("register").outputs == {"model-version": "1", "became-champion": "true"}
    assert any(line.startswith("register | ") for line in lines)  # the step's own output

    # The same registered version: data, settings, metrics, weights.
    client = MlflowClient(mlflow_server.url)
    runs = [client.get_run(r.task("validate-data").outputs["run-id"]) for r in (here, there)]
    versions = [client.get_model_version(m, "1") for m in ("same-here", "same-there")]
    for run, version in zip(runs, versions, strict=True):
        assert run.info.status == "FINISHED"
        assert version.run_id == run.info.run_id
        assert run.data.tags["slipway.registered_version"] == "1"
    digests = {r.data.tags["slipway.data.digest"] for r in runs}
    assert len(digests) == 1 and digests == {v.tags["slipway.data.digest"] for v in versions}
    assert runs[0].data.tags["slipway.data.path"] == runs[1].data.tags["slipway.data.path"]
    assert runs[0].data.params == runs[1].data.params
    assert runs[0].data.params["training.epochs"] == EPOCHS
    metrics = [{k: v for k, v in r.data.metrics.items() if k not in TIMINGS} for r in runs]
    assert metrics[0].keys() == metrics[1].keys()
    for key, value in metrics[0].items():
        assert metrics[1][key] == pytest.approx(value, rel=1e-4, abs=1e-5), key
    weights = [_weights(client, m, tmp_path / m) for m in ("same-here", "same-there")]
    assert weights[0].keys() == weights[1].keys()
    for key, value in weights[0].items():
        np.testing.assert_allclose(weights[1][key], value, rtol=1e-4, atol=1e-5, err_msg=key)


def _task_times(result: RunResult) -> str:
    return ", ".join(f"{t.name} {t.seconds:.1f}s" for t in result.tasks)


def test_a_missing_image_is_refused_before_any_step_runs(podman: None, data: Path) -> None:
    steps = ContainerSteps(ImageMap({repository(common.IMAGE): "localhost/nope:never"}),
                           [Mount(data.parent)], CONTAINERS_CONF)  # fmt: skip
    executor = LocalExecutor(
        {common.PLATFORM_CONFIGMAP: {"MLFLOW_TRACKING_URI": "http://127.0.0.1:9"}},
        steps=steps,
    )
    with pytest.raises(WorkflowError, match=r"localhost/nope:never \(mapped from ghcr\.io"):
        executor.run(definitions.train_and_promote(), _arguments(data, "never"), "register")


def test_a_folder_the_steps_user_cannot_read_is_refused_before_any_step_runs(
    podman: None, tmp_path: Path
) -> None:
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    steps = ContainerSteps(IMAGES, [Mount(private)], CONTAINERS_CONF)
    executor = LocalExecutor({common.PLATFORM_CONFIGMAP: {}}, steps=steps)
    with pytest.raises(WorkflowError, match=rf"{private} is not readable by a step's user"):
        executor.run(definitions.train_and_promote(), _arguments(private / "x.csv", "n"), "train")


def _step_containers() -> set[str]:
    listed = subprocess.run(
        ["podman", "ps", "--all", "--format", "{{.Names}}", "--filter", "name=slipway-"],
        env=podman_env(),
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return set(listed.stdout.split())


def test_a_step_past_its_timeout_is_removed_and_fails(trainer_image: str, data: Path) -> None:
    """One second is less than a container's start: the step fails by name, and no
    container of it is left behind."""
    steps = ContainerSteps(IMAGES, [Mount(data.parent)], CONTAINERS_CONF, timeout=1)
    executor = LocalExecutor(
        {common.PLATFORM_CONFIGMAP: {"MLFLOW_TRACKING_URI": "http://127.0.0.1:9"}},
        steps=steps,
    )
    before = _step_containers()
    result = executor.run(definitions.train_and_promote(), _arguments(data, "n"), "train")
    assert [(t.name, t.status) for t in result.tasks] == [
        ("validate-data", "Failed"),
        ("propose-trials", "Omitted"),
        ("tune-trial", "Omitted"),
        ("pick-best", "Omitted"),
        ("train", "Omitted"),
    ]
    assert "ran past 1s and was removed" in result.task("validate-data").message
    assert _step_containers() <= before


@pytest.mark.integration
@pytest.mark.slow
def test_a_failing_step_fails_its_task_with_the_containers_last_lines(
    trainer_image: str, mlflow_server: Managed, data: Path, tmp_path: Path, clean_env: None
) -> None:
    """Data that is not there, inside a folder that is mounted: the step's own error, named
    by path, is the task's; nothing after it runs and nothing is registered."""
    missing = data.parent / "absent.csv"
    lines: list[str] = []
    result = LocalExecutor(
        _config_maps(mlflow_server, tmp_path / "state"), steps=_steps(lines, data)
    ).run(definitions.train_and_promote(), _arguments(missing, "never-there"), "register")
    assert [(t.name, t.status) for t in result.tasks] == [
        ("validate-data", "Failed"),
        ("propose-trials", "Omitted"),
        ("tune-trial", "Omitted"),
        ("pick-best", "Omitted"),
        ("train", "Omitted"),
        ("evaluate", "Omitted"),
        ("register", "Omitted"),
    ]
    assert result.task("on-exit").status == "Succeeded"  # in its container, on the failure
    failed = result.task("validate-data")
    assert isinstance(failed.error, StepFailed)
    assert "the container exited with 1" in failed.message
    assert str(missing) in failed.message
    assert MlflowClient(mlflow_server.url).search_registered_models("name = 'never-there'") == []


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3]:
    """moto's S3 server, standing in for AWS S3 (see tests/s3_support.py)."""
    yield from start_session_s3(tmp_path_factory)


@pytest.mark.integration
@pytest.mark.slow
def test_s3_data_reaches_the_steps_containers_as_a_pod_gets_irsa(
    trainer_image: str, mlflow_server: Managed, s3: S3, data: Path, tmp_path: Path,
    clean_env: None, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """No data folder is mounted: the step reads ``s3://`` through the stack's S3, whose
    endpoint and credentials are only the pod's environment (never the template's); a
    missing object fails the step with its URI named."""
    for name in AWS_VARIABLES:  # nothing of this process's AWS reaches the containers
        monkeypatch.delenv(name, raising=False)
    uri = s3.upload(data, "churn/train.csv")
    config_maps = _config_maps(mlflow_server, tmp_path / "state")
    steps = ContainerSteps(IMAGES, [], CONTAINERS_CONF, pod_env=s3.environment())
    workflow = definitions.train_and_promote()

    result = LocalExecutor(config_maps, steps=steps).run(
        workflow, _arguments_uri(uri, "from-s3"), "validate-data"
    )
    result.raise_for_failure()
    run = MlflowClient(mlflow_server.url).get_run(result.task("validate-data").outputs["run-id"])
    assert run.data.tags["slipway.data.digest"] == tables.table_digest(tables.read_table(data))

    lines: list[str] = []
    missing = ContainerSteps(IMAGES, [], CONTAINERS_CONF, lines.append, pod_env=s3.environment())
    with pytest.raises(StepFailed) as failed:
        LocalExecutor(config_maps, steps=missing).run(
            workflow, _arguments_uri(f"s3://{s3.datasets}/churn/absent.csv", "absent"),
            "validate-data",
        ).raise_for_failure()  # fmt: skip
    said = str(failed.value) + "\n".join(lines)
    assert "s3://slipway-datasets/churn/absent.csv: no such object in bucket" in said


def _arguments_uri(uri: str, model: str) -> dict[str, str]:
    return {"data": uri, "model-name": model, "rollout-backend": "local"}
