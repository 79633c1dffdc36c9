"""The predictor image, built here with podman and run as a pod runs it (UID 10001, read-only
root filesystem, only /tmp writable), serving a version trained and registered in a real
MLflow and downloaded from the registry, mounted read-only at /mnt/models.

It must answer KServe v1 and Open Inference Protocol v2 JSON requests with the predictions of
the same predictor run from the project's environment, carry neither torch, MLflow nor
slipway's training code, and its HEALTHCHECK must tell a ready server from an absent one.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest
import tritonclient.http as triton
from conftest import RegisteredModel
from image_support import UID, Container, podman_env, podman_run, running

from slipway.local import processes
from slipway.local.processes import Managed, free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

IMAGE = "localhost/slipway-predictor:dev"
ROWS = [
    {"tenure_months": 12.0, "monthly_charges": 70.5, "support_calls": 2, "age": 40,
     "contract": "monthly", "region": "north", "payment_method": "card"},
    {"tenure_months": 48.0, "monthly_charges": 20.0, "support_calls": 0, "age": 63,
     "contract": "two_year", "region": "south", "payment_method": "bank"},
]  # fmt: skip
V2_TYPES = {"tenure_months": "FP64", "monthly_charges": "FP64", "support_calls": "INT64",
            "age": "INT64"}  # fmt: skip


def v2_body(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "inputs": [
            {
                "name": name,
                "datatype": V2_TYPES.get(name, "BYTES"),
                "shape": [len(rows)],
                "data": [row[name] for row in rows],
            }
            for name in rows[0]
        ]
    }


def server_args(model: RegisteredModel, port: int) -> list[str]:
    return ["--model-name", model.name, "--model-version", model.version, "--run-id",
            model.run_id, "--http-port", str(port), "--host", "127.0.0.1"]  # fmt: skip


@pytest.fixture(scope="module")
def container(
    built_images: dict[str, Any], registered_model: RegisteredModel
) -> Iterator[Container]:
    port = free_port()
    with running(
        IMAGE,
        f"slipway-predictor-test-{port}",
        port,
        ["--model-dir", "/mnt/models", *server_args(registered_model, port)],
        # The HEALTHCHECK probes SLIPWAY_HTTP_PORT (8080 in the image, as in the chart).
        ["-v", f"{registered_model.folder}:/mnt/models:ro", "-e", f"SLIPWAY_HTTP_PORT={port}"],
    ) as started:
        yield started


@pytest.fixture(scope="module")
def host_predictor(registered_model: RegisteredModel, tmp_path_factory: Any) -> Iterator[Managed]:
    """The same predictor from the project's environment, on the same model folder."""
    port = free_port()
    server = processes.start(
        f"predictor-host-{port}",
        [
            sys.executable,
            "-m",
            "slipway.serving",
            "--model-dir",
            str(registered_model.folder),
            *server_args(registered_model, port),
        ],
        port=port,
        health_path=f"/v2/models/{registered_model.name}/ready",
        log_dir=tmp_path_factory.mktemp("host-predictor"),
        timeout=120,
    )
    yield server
    server.stop()


def predictions(url: str, model: str, protocol: str) -> Any:
    if protocol == "v1":
        response = httpx.post(f"{url}/v1/models/{model}:predict", json={"instances": ROWS})
        assert response.status_code == 200, response.text
        return response.json()["predictions"]
    response = httpx.post(f"{url}/v2/models/{model}/infer", json=v2_body(ROWS))
    assert response.status_code == 200, response.text
    body = response.json()
    return {out["name"]: (out["datatype"], out["shape"], out["data"]) for out in body["outputs"]}


@pytest.mark.parametrize("protocol", ["v1", "v2"])
def test_answers_like_the_predictor_outside_the_image(
    container: Container, host_predictor: Managed, registered_model: RegisteredModel,
    protocol: str,
) -> None:  # fmt: skip
    inside = predictions(container.url, registered_model.name, protocol)
    outside = predictions(host_predictor.url, registered_model.name, protocol)
    assert inside == outside
    assert len(inside if protocol == "v1" else inside["prediction"][2]) == len(ROWS)


def test_serves_the_registered_version(
    container: Container, registered_model: RegisteredModel
) -> None:
    meta = httpx.get(f"{container.url}/v2/models/{registered_model.name}").json()
    assert meta["name"] == registered_model.name
    assert registered_model.version in meta.get("versions", [registered_model.version])


def _triton_inputs(rows: list[dict[str, Any]]) -> list[triton.InferInput]:
    """Every column as tritonclient sends it by default: binary, after the JSON header."""
    inputs = []
    for name in rows[0]:
        if name in V2_TYPES:
            dtype = np.float64 if V2_TYPES[name] == "FP64" else np.int64
            array = np.array([row[name] for row in rows], dtype=dtype)
        else:
            array = np.array([row[name].encode() for row in rows], dtype=np.object_)
        tensor = triton.InferInput(name, list(array.shape), V2_TYPES.get(name, "BYTES"))
        tensor.set_data_from_numpy(array)
        inputs.append(tensor)
    return inputs


def test_a_real_oip_client_with_its_defaults(
    container: Container, host_predictor: Managed, registered_model: RegisteredModel
) -> None:
    """tritonclient's HTTP client, unchanged: binary inputs with Inference-Header-Content-Length
    and binary outputs, against the image; the answers equal the JSON v2 answers of the same
    predictor outside the image."""
    client = triton.InferenceServerClient(url=container.url.removeprefix("http://"))
    try:
        assert client.is_server_live() and client.is_server_ready()
        assert client.is_model_ready(registered_model.name, model_version=registered_model.version)
        meta = client.get_model_metadata(registered_model.name)
        assert meta["versions"] == [registered_model.version]
        result = client.infer(registered_model.name, _triton_inputs(ROWS))
    finally:
        client.close()
    assert all("data" not in out for out in result.get_response()["outputs"])  # binary answers
    outside = predictions(host_predictor.url, registered_model.name, "v2")
    assert result.as_numpy("prediction").tolist() == outside["prediction"][2]
    np.testing.assert_array_equal(
        result.as_numpy("probabilities").ravel(), outside["probabilities"][2]
    )


def test_runs_as_10001_with_a_read_only_root(container: Container) -> None:
    assert container.exec("id", "-u").stdout.strip() == str(UID)
    assert container.exec("touch", "/opt/venv/x").returncode != 0
    assert container.exec("touch", "/mnt/models/x").returncode != 0
    assert container.exec("touch", "/tmp/x").returncode == 0


def test_healthcheck_passes_on_a_ready_server(container: Container) -> None:
    done = subprocess.run(
        ["podman", "healthcheck", "run", container.name],
        env=podman_env(), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_healthcheck_fails_without_a_server(container: Container) -> None:
    """The image's own HEALTHCHECK command, pointed at a port nothing listens on."""
    inspect = subprocess.run(
        ["podman", "image", "inspect", IMAGE], env=podman_env(), capture_output=True,
        text=True, check=True,
    )  # fmt: skip
    [info] = json.loads(inspect.stdout)
    test = info["Healthcheck"]["Test"]  # podman keeps the docker-format HEALTHCHECK here
    assert test[0] == "CMD"
    done = container.exec("env", "SLIPWAY_HTTP_PORT=1", *test[1:])
    assert done.returncode != 0


@pytest.mark.parametrize(
    ("module", "present"),
    [
        ("torch", False),
        ("slipway.training", False),
        ("mlflow", False),
        ("slipway.serving", True),
        # payload recording and its upload of closed files to the datasets bucket
        ("slipway.serving.payload_log", True),
        ("boto3", True),
    ],
)
def test_carries_no_torch_mlflow_or_training_code(
    built_images: dict[str, Any], module: str, present: bool
) -> None:
    probe = f"import importlib.util as u; print(u.find_spec({module!r}) is not None)"
    done = podman_run(IMAGE, ["-c", probe], ["--entrypoint", "python"])
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(present)


def test_import_torch_fails(built_images: dict[str, Any]) -> None:
    done = podman_run(IMAGE, ["-c", "import torch"], ["--entrypoint", "python"])
    assert done.returncode != 0
    assert "No module named 'torch'" in done.stderr


def test_a_missing_model_folder_is_a_clear_error(built_images: dict[str, Any]) -> None:
    done = podman_run(IMAGE, ["--model-dir", "/mnt/nothing"])
    assert done.returncode == 1
    assert "/mnt/nothing" in done.stderr
