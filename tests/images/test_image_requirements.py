"""The images pin what requirements.lock pins: every pin of images/*/requirements.txt is the
lock's pin of that package, the trainer carries the whole runtime set (no dev tools), and
the predictor's set has neither torch, MLflow nor the training stack."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
LOCK = REPO_ROOT / "requirements.lock"
TRAINER = REPO_ROOT / "images" / "trainer" / "requirements.txt"
PREDICTOR = REPO_ROOT / "images" / "predictor" / "requirements.txt"
_PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==(?P<version>\S+)")


def pins(text: str) -> dict[str, str]:
    found = {}
    for line in text.splitlines():
        match = _PIN.match(line.strip())
        if match:
            found[re.sub(r"[-_.]+", "-", match["name"]).lower()] = match["version"]
    return found


def disagreements(image: dict[str, str], lock: dict[str, str]) -> list[str]:
    return sorted(
        f"{name}=={version} (lock: {lock.get(name, 'absent')})"
        for name, version in image.items()
        if lock.get(name) != version
    )


@pytest.fixture(scope="module")
def lock() -> dict[str, str]:
    return pins(LOCK.read_text())


@pytest.mark.parametrize("path", [TRAINER, PREDICTOR], ids=["trainer", "predictor"])
def test_image_pins_agree_with_the_lock(path: Path, lock: dict[str, str]) -> None:
    image = pins(path.read_text())
    assert len(image) > 20, f"{path} pins almost nothing"
    assert disagreements(image, lock) == []


def test_disagreement_is_reported() -> None:
    assert disagreements({"numpy": "1.0"}, {"numpy": "2.3.5"}) == ["numpy==1.0 (lock: 2.3.5)"]
    assert disagreements({"left-pad": "1"}, {}) == ["left-pad==1 (lock: absent)"]


def test_trainer_has_the_runtime_set_without_dev_tools(lock: dict[str, str]) -> None:
    trainer = pins(TRAINER.read_text())
    for needed in ("mlflow", "hera", "kserve", "pandas", "boto3", "pyarrow", "safetensors"):
        assert needed in trainer, needed
    for dev in ("pytest", "ruff", "mypy", "moto", "hypothesis", "import-linter"):
        assert dev in lock and dev not in trainer, dev
    # torch is installed on its own (CPU or CUDA build), its own dependencies are pinned here
    assert "torch" not in trainer and "sympy" in trainer


def test_predictor_has_no_torch_mlflow_or_training_stack() -> None:
    predictor = pins(PREDICTOR.read_text())
    # boto3: payload recording uploads its closed files to the datasets bucket
    assert {"kserve", "numpy", "safetensors", "pydantic-settings", "boto3"} <= set(predictor)
    forbidden = {"torch", "mlflow", "mlflow-skinny", "hera", "scikit-learn", "scipy", "evidently"}
    assert forbidden.isdisjoint(predictor), forbidden & set(predictor)
