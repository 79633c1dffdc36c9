"""The bundle's files, finding a bundle in a model folder, and reading it without torch.

    contract.yaml         the dataset contract (request validation, feature roles)
    preprocessor.json     the fitted preprocessing (preprocessing.FittedPreprocessing)
    network.json          the network's spec (network.NetworkSpec)
    weights.safetensors   the weights as plain arrays (weights.py): what the predictor reads
    weights.pt            the same weights as a torch state_dict, loaded with
                          ``weights_only=True``: what MLflow's pyfunc loader reads

The bundle is what MLflow stores as the model's data and what the KServe predictor loads.
Bundles saved before ``weights.safetensors`` existed have only ``weights.pt``; the
predictor refuses them with a ModelError that names the command upgrading one in place
(``UPGRADE_COMMAND``, implemented in ``slipway.training.model_bundle``, which has torch).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ruamel.yaml import YAML

from slipway.bundle.network import NetworkSpec
from slipway.bundle.preprocessing import FittedPreprocessing
from slipway.bundle.weights import load_weights
from slipway.data.contract import DatasetContract, load_contract
from slipway.errors import ModelError

CONTRACT = "contract.yaml"
PREPROCESSOR = "preprocessor.json"
NETWORK = "network.json"
WEIGHTS = "weights.safetensors"
TORCH_WEIGHTS = "weights.pt"

#: The command that adds weights.safetensors to a bundle that has only weights.pt.
UPGRADE_COMMAND = "python -m slipway.training.model_bundle upgrade"


def _is_bundle(folder: Path) -> bool:
    return (folder / WEIGHTS).is_file() or (folder / TORCH_WEIGHTS).is_file()


def find_bundle(model_dir: Path) -> Path:
    """The bundle folder inside an MLflow model folder (or the folder itself)."""
    if _is_bundle(model_dir):
        return model_dir
    mlmodel = model_dir / "MLmodel"
    if mlmodel.is_file():
        spec = YAML(typ="safe").load(mlmodel.read_text(encoding="utf-8"))
        data = spec.get("flavors", {}).get("python_function", {}).get("data")
        if data and _is_bundle(model_dir / str(data)):
            return model_dir / str(data)
    raise ModelError(
        f"no slipway model bundle in {model_dir} (expected {WEIGHTS} or {TORCH_WEIGHTS})"
    )


def code_directories(model_dir: Path) -> tuple[Path, ...]:
    """The MLflow model's ``code_paths`` folder (MLmodel's ``python_function.code``), where
    the pipeline puts a custom network's factory code; none for a bare bundle folder."""
    mlmodel = model_dir / "MLmodel"
    if not mlmodel.is_file():
        return ()
    spec = YAML(typ="safe").load(mlmodel.read_text(encoding="utf-8"))
    code = spec.get("flavors", {}).get("python_function", {}).get("code")
    return (model_dir / str(code),) if code and (model_dir / str(code)).is_dir() else ()


@dataclass(frozen=True)
class Bundle:
    """A bundle as plain data: what serving needs, read without torch and without pickle."""

    contract: DatasetContract
    preprocessing: FittedPreprocessing
    spec: NetworkSpec
    weights: dict[str, np.ndarray]


def read_bundle(folder: Path) -> Bundle:
    """Read the bundle in ``folder``; ModelError when a file is missing or they disagree."""
    weights_path = folder / WEIGHTS
    if not weights_path.is_file():
        if (folder / TORCH_WEIGHTS).is_file():
            raise ModelError(
                f"the model bundle in {folder} has {TORCH_WEIGHTS} but no {WEIGHTS}: it was "
                f"saved before the predictor stopped loading torch weights. Upgrade it in "
                f"place with `{UPGRADE_COMMAND} {folder}`, or register the model again"
            )
        raise ModelError(f"no {WEIGHTS} in {folder}")
    for name in (CONTRACT, PREPROCESSOR, NETWORK):
        if not (folder / name).is_file():
            raise ModelError(f"the model bundle in {folder} has no {name}")
    contract = load_contract(folder / CONTRACT)
    try:
        preprocessing = FittedPreprocessing.load(folder / PREPROCESSOR)
        spec = NetworkSpec.load(folder / NETWORK)
    except (ValueError, KeyError, TypeError) as exc:  # JSON that is not what we wrote
        raise ModelError(f"the model bundle in {folder} is unreadable: {exc!r}") from exc
    weights = load_weights(weights_path)
    if spec.kind == "mlp":  # a custom network's state dict is checked by torch, strictly
        spec.check_weights(weights, weights_path)
    if spec.output_dim != contract.output_width:
        raise ModelError(
            f"{folder}: the network has {spec.output_dim} outputs, the contract's "
            f"{contract.task} task needs {contract.output_width}"
        )
    if spec.input_dim != preprocessing.width:
        raise ModelError(
            f"{folder}: the network takes {spec.input_dim} inputs, the preprocessing makes "
            f"{preprocessing.width}"
        )
    if set(preprocessing.input_names) != {c.name for c in contract.features}:
        raise ModelError(f"{folder}: the preprocessing's inputs are not the contract's features")
    return Bundle(contract, preprocessing, spec, weights)
