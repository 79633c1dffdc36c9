"""The model bundle with its torch network: saving, loading for MLflow, upgrading old ones.

The format (file names, the torch-free reader the predictor uses) is
``slipway.bundle.layout``. Training saves a bundle with the network's weights twice: as
``weights.safetensors`` for the predictor (plain arrays, no torch, no pickle) and as
``weights.pt`` for MLflow's pyfunc loader (a state_dict loaded with ``weights_only=True``).

A bundle saved before ``weights.safetensors`` existed is upgraded in place with

    python -m slipway.training.model_bundle upgrade MODEL_DIR

(``MODEL_DIR`` is the bundle folder or the MLflow model folder around it), which reads
``weights.pt`` into the network, checks it against the spec and writes the safetensors file.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from slipway.bundle.layout import (
    CONTRACT,
    NETWORK,
    PREPROCESSOR,
    TORCH_WEIGHTS,
    WEIGHTS,
    find_bundle,
)
from slipway.bundle.weights import save_weights
from slipway.data.contract import DatasetContract, dump_contract, load_contract
from slipway.errors import ModelError, SlipwayError
from slipway.training.features import Preprocessor
from slipway.training.network import SlipwayNetwork, load_network, weight_arrays

__all__ = ["ModelBundle", "find_bundle", "upgrade_bundle"]


@dataclass
class ModelBundle:
    contract: DatasetContract
    preprocessor: Preprocessor
    network: SlipwayNetwork

    def save(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / CONTRACT).write_text(dump_contract(self.contract), encoding="utf-8")
        self.preprocessor.save(folder / PREPROCESSOR)
        self.network.spec.save(folder / NETWORK)
        torch.save(self.network.state_dict(), folder / TORCH_WEIGHTS)
        save_weights(weight_arrays(self.network), folder / WEIGHTS)
        return folder

    @classmethod
    def load(cls, folder: Path) -> ModelBundle:
        return cls(
            load_contract(folder / CONTRACT),
            Preprocessor.load(folder / PREPROCESSOR),
            load_network(folder / NETWORK, folder / TORCH_WEIGHTS),
        )

    @torch.no_grad()
    def predict_outputs(self, frame: pd.DataFrame) -> np.ndarray:
        """What the task's outputs mean, per row of raw (untransformed) features: binary the
        positive-class probability (rows,), multiclass the probability per class in the
        contract's ``classes`` order (rows, K), regression the value (rows,)."""
        features = torch.from_numpy(self.preprocessor.transform(frame))
        out = self.network(features)
        task = self.contract.task
        if task == "multiclass":
            return torch.softmax(out, dim=-1).numpy().astype(np.float64)
        if task == "regression":
            spec = self.network.spec
            values: np.ndarray = out.numpy().astype(np.float64)
            return values * spec.output_scale + spec.output_shift
        return torch.sigmoid(out).numpy().astype(np.float64)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """binary: the positive-class probability per row; multiclass: per class."""
        if self.contract.task == "regression":
            raise ModelError("a regression model has no probabilities")
        return self.predict_outputs(frame)

    def predict_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """MLflow's answer per task: binary ``prediction`` (0/1) and ``probability``;
        multiclass ``prediction`` (the class label) and ``probability_<class>`` per class;
        regression ``prediction`` (a float)."""
        outputs = self.predict_outputs(frame)
        task = self.contract.task
        if task == "regression":
            return pd.DataFrame({"prediction": outputs})
        if task == "multiclass":
            labels = self.contract.class_labels
            predicted = [labels[i] for i in outputs.argmax(axis=1)]
            columns: dict[str, object] = {"prediction": predicted}
            columns |= {f"probability_{c}": outputs[:, i] for i, c in enumerate(labels)}
            return pd.DataFrame(columns)
        return pd.DataFrame(
            {"prediction": (outputs >= 0.5).astype(np.int64), "probability": outputs}
        )


def upgrade_bundle(model_dir: Path) -> bool:
    """Give the bundle in ``model_dir`` its ``weights.safetensors``, made from ``weights.pt``.

    Returns False when it has one already (nothing is written), True when it was added.
    """
    folder = find_bundle(model_dir)
    if (folder / WEIGHTS).is_file():
        return False
    if not (folder / TORCH_WEIGHTS).is_file() or not (folder / NETWORK).is_file():
        raise ModelError(f"the model bundle in {folder} has neither {WEIGHTS} nor a network")
    try:
        network = load_network(folder / NETWORK, folder / TORCH_WEIGHTS)
    except (RuntimeError, ValueError, KeyError, OSError) as exc:  # what torch.load raises
        raise ModelError(f"cannot read {folder / TORCH_WEIGHTS}: {exc}") from exc
    weights = weight_arrays(network)
    network.spec.check_weights(weights, folder / TORCH_WEIGHTS)
    save_weights(weights, folder / WEIGHTS)
    return True


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m slipway.training.model_bundle",
        description="Add weights.safetensors to model bundles saved with only weights.pt.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    upgrade = commands.add_parser("upgrade", help="upgrade bundles in place")
    upgrade.add_argument("model_dir", type=Path, nargs="+")
    args = parser.parse_args(argv)
    try:
        for model_dir in args.model_dir:
            added = upgrade_bundle(model_dir)
            print(f"{model_dir}: {'added ' + WEIGHTS if added else 'already has ' + WEIGHTS}")
    except SlipwayError as exc:
        parser.exit(1, f"error: {exc}\n")


if __name__ == "__main__":
    main()
