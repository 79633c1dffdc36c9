"""The train step under torchrun: two CPU processes, DDP over gloo, one MLflow writer."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from slipway.local.processes import Managed
from slipway.pipeline.steps import validate_step

from .conftest import fast_settings

pytestmark = pytest.mark.integration


def test_train_step_under_torchrun_with_two_processes(
    client: MlflowClient, mlflow_server: Managed, demo_files: tuple[Path, Path], tmp_path: Path
) -> None:
    settings = fast_settings("ddp-model")
    train, _ = demo_files
    run_id = validate_step(client, settings, train).run_id
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": mlflow_server.url,
        "SLIPWAY_TRAINING__EPOCHS": "3",
        "SLIPWAY_TRAINING__PROGRESS": "false",
        "SLIPWAY_TRACKING__EXPERIMENT": settings.tracking.experiment,
        "OMP_NUM_THREADS": "1",
    }
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
        "-m", "slipway.cli", "pipeline", "train", "--run-id", run_id, "--data", str(train),
    ]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    # Only rank 0 reports the model.
    assert done.stdout.count("model: models:/") == 1

    run = client.get_run(run_id)
    assert run.data.params["training.world_size"] == "2"
    assert [m.step for m in client.get_metric_history(run_id, "val_loss")] == [1, 2, 3]
    # Each rank trains on half the rows per epoch.
    samples = client.get_metric_history(run_id, "samples")[0].value
    assert samples == int(run.data.params["split.train"]) // 2
    model = mlflow.pyfunc.load_model(run.data.tags["slipway.model_uri"])
    assert model.metadata.run_id == run_id
