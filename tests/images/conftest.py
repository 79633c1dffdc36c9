"""Fixtures of the image tests: podman, and the images built once per session.

Everything is real: the images are built by scripts/build_images.py with podman (the same
command as ``make images``), and the containers run under runc with the repository's
containers.conf. Where podman cannot run, the tests that need it skip, unless
SLIPWAY_REQUIRE_PODMAN=1 (CI), where they fail instead.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from image_support import load_script
from podman_support import require_podman

os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


@pytest.fixture(scope="session")
def podman() -> None:
    require_podman()


@pytest.fixture(scope="session")
def built_images(podman: None, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """trainer and predictor, built once through scripts/build_images.py (cached layers make
    this seconds after the first build); the script's JSON report."""
    build_images = load_script("build_images")
    report_path = tmp_path_factory.mktemp("images") / "images.json"
    status = build_images.main(["build", "--images", "trainer,predictor", "--report",
                                str(report_path)])  # fmt: skip
    assert status == 0, "scripts/build_images.py build failed (see its error above)"
    report: dict[str, Any] = json.loads(report_path.read_text())
    return report


@dataclass(frozen=True)
class RegisteredModel:
    name: str
    version: str
    run_id: str
    #: The version's MLflow model folder, readable by UID 10001 (mounted at /mnt/models).
    folder: Path


@pytest.fixture(scope="session")
def registered_model(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegisteredModel]:
    """One version trained for seconds and registered in a real MLflow server, then
    downloaded from the registry the way the predictor's storage initializer would."""
    from slipway.config import load_settings
    from slipway.data import synthetic, tables
    from slipway.errors import StackError
    from slipway.local.stack import start_mlflow
    from slipway.pipeline.steps import run_pipeline
    from slipway.registry import tracking
    from slipway.serving.server import from_registry

    state = tmp_path_factory.mktemp("image-model")
    try:
        mlflow = start_mlflow(state)
    except StackError:
        # Under a loaded machine MLflow's first start can outlast the stack's wait; once more.
        mlflow = start_mlflow(state)
    previous = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = mlflow.url
    try:
        base = load_settings()
        settings = base.model_copy(
            update={
                "training": base.training.model_copy(update={"epochs": 3, "progress": False}),
                "tracking": base.tracking.model_copy(update={"experiment": "image-tests"}),
                # the tests are about the image, not model quality
                "gate": base.gate.model_copy(
                    update={
                        "min_accuracy": 0.5,
                        "min_roc_auc": 0.5,
                        "min_f1": 0.0,
                        "max_log_loss": 5.0,
                        "champion_margin": 1.0,
                    }
                ),
            }
        )
        data = state / "train.csv"
        tables.write_table(synthetic.generate(2000, 1), data)
        client = tracking.connect(mlflow.url)
        result = run_pipeline(client, settings, data)
        assert result.registration is not None, result.decision
        name, version = settings.tracking.model_name, result.registration.version
        source = from_registry(f"models:/{name}/{version}", state / "models", client)
        folder = state / "mnt-models"
        shutil.copytree(source.model_dir, folder)
        for path in [folder, *folder.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        yield RegisteredModel(name, version, source.run_id, folder)
    finally:
        mlflow.stop()
        if previous is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = previous
