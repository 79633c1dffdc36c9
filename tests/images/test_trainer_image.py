"""The trainer image, built here with podman and run as a step pod runs it (UID 10001,
read-only root filesystem, only /tmp writable): it imports slipway, torch (the CPU build) and
Hera, and Hera's runner runs a real step of the rendered workflow (check_drift) on files
mounted read-only, writing its output parameters where Argo collects them. It is also the
model-serving chart's torch image: it serves a custom network with the chart's command."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from image_support import UID, podman_run, running

from slipway.data import synthetic, tables
from slipway.local.processes import free_port

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "serving"))
from tasks_support import FACTORY_MODULE, build_bundle

pytestmark = [pytest.mark.integration, pytest.mark.slow]

IMAGE = "localhost/slipway-trainer:dev"


def test_imports_slipway_torch_and_hera_as_10001_read_only(built_images: dict[str, Any]) -> None:
    probe = (
        "import os, slipway, torch, hera, mlflow; "
        "print(os.getuid(), torch.__version__, torch.cuda.is_available(), slipway.__version__)"
    )
    done = podman_run(IMAGE, ["python", "-c", probe])
    assert done.returncode == 0, done.stderr
    uid, torch_version, cuda, version = done.stdout.split()
    assert (uid, torch_version, cuda) == ("10001", "2.13.0+cpu", "False")
    assert version == __import__("slipway").__version__


def test_torchrun_is_on_the_path(built_images: dict[str, Any]) -> None:
    done = podman_run(IMAGE, ["torchrun", "--help"])
    assert done.returncode == 0, done.stderr
    assert "--nproc-per-node" in done.stdout


def test_the_root_filesystem_is_read_only(built_images: dict[str, Any]) -> None:
    done = podman_run(IMAGE, ["sh", "-c", "touch /tmp/ok && ! touch /opt/app/x 2>/dev/null"])
    assert done.returncode == 0, done.stderr


def _hera_step(folder: Path, function: str, parameters: dict[str, str]) -> Any:
    """Run one step the way Argo runs the script template: Hera's runner, with the input
    parameters in a file, the outputs written under /tmp/hera-outputs."""
    (folder / "inputs.json").write_text(
        json.dumps([{"name": k, "value": v} for k, v in parameters.items()])
    )
    for path in [folder, *folder.iterdir()]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    script = (
        f"python -m hera.workflows.runner -e slipway.workflow.templates.drift:{function} "
        "/data/inputs.json && cat /tmp/hera-outputs/parameters/drift"
    )
    return podman_run(
        IMAGE,
        ["sh", "-c", script],
        [
            "-v",
            f"{folder}:/data:ro",
            "-e",
            "hera__outputs_directory=/tmp/hera-outputs",
            "-e",
            "SLIPWAY_TRAINING__PROGRESS=false",
        ],
    )


def test_hera_runner_runs_a_step(built_images: dict[str, Any], tmp_path: Path) -> None:
    tables.write_table(synthetic.generate(500, seed=1), tmp_path / "latest.csv")
    tables.write_table(synthetic.generate(500, seed=2), tmp_path / "reference.csv")
    done = _hera_step(
        tmp_path,
        "check_drift",
        {"data": "/data/latest.csv", "reference": "/data/reference.csv", "config": ""},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip().splitlines()[-1] == "false"  # same distribution: no drift


def test_a_step_on_a_missing_file_fails_naming_it(
    built_images: dict[str, Any], tmp_path: Path
) -> None:
    done = _hera_step(
        tmp_path,
        "check_drift",
        {"data": "/data/absent.csv", "reference": "/data/absent.csv", "config": ""},
    )
    assert done.returncode != 0
    assert "/data/absent.csv" in done.stdout + done.stderr


def test_serves_a_custom_network_as_the_chart_runs_it(
    built_images: dict[str, Any], tmp_path: Path
) -> None:
    """``network: custom`` in the model-serving chart: this image, the chart's command
    (``python -m slipway.serving``), the model under /mnt/models, read-only, as UID 10001."""
    models = tmp_path / "models"
    models.mkdir()
    bundle = build_bundle(models / "iris", "iris", custom=True)
    assert (models / f"{FACTORY_MODULE}.py").exists()  # the team's module, beside the model
    for path in [models, *models.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    port = free_port()
    command = ["python", "-m", "slipway.serving", "--model-dir", "/mnt/models/iris",
               "--model-name", "iris", "--model-version", "1", "--run-id", "r1",
               "--http-port", str(port), "--host", "127.0.0.1"]  # fmt: skip
    # MLflow's code_paths put the factory's module on the path; here the folder does.
    options = ["-v", f"{models}:/mnt/models:ro", "-e", "PYTHONPATH=/mnt/models",
               "-e", "HOME=/tmp"]  # fmt: skip
    with running(IMAGE, f"slipway-torch-serving-{port}", port, command, options) as container:
        rows = bundle.rows(5)
        answer = httpx.post(f"{container.url}/v1/models/iris:predict",
                            json={"instances": rows}, timeout=30)  # fmt: skip
        metadata = httpx.get(f"{container.url}/v2/models/iris", timeout=10).json()
        uid = container.exec("id", "-u").stdout.strip()
    assert answer.status_code == 200, answer.text
    probabilities = np.array([p["probabilities"] for p in answer.json()["predictions"]])
    assert np.allclose(probabilities, bundle.reference(rows), atol=1e-6)
    assert metadata["platform"] == "slipway-torch"
    assert uid == str(UID)
