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
from slipway.training.network import TabularMLP, load_network, weight_arrays

__all__ = ["ModelBundle", "find_bundle", "upgrade_bundle"]


@dataclass
class ModelBundle:
    contract: DatasetContract
    preprocessor: Preprocessor
    network: TabularMLP

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
    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Positive-class probability per row of raw (untransformed) features."""
        features = torch.from_numpy(self.preprocessor.transform(frame))
        return torch.sigmoid(self.network(features)).numpy().astype(np.float64)

    def predict_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        probability = self.predict_proba(frame)
        return pd.DataFrame(
            {"prediction": (probability >= 0.5).astype(np.int64), "probability": probability}
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
