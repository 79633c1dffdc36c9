"""The model bundle: everything a prediction needs, in one folder of plain files.

    contract.yaml       the dataset contract (request validation, feature roles)
    preprocessor.json   the fitted preprocessing (features.Preprocessor)
    network.json        the network's shape (model.NetworkSpec)
    weights.pt          the network's state_dict, loaded with ``weights_only=True``

The bundle is what MLflow stores as the model's data (see pyfunc_loader) and what the
KServe predictor loads. Nothing in it is a pickle, so loading a model executes no code
from the artifact store.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from ruamel.yaml import YAML

from slipway.data.contract import DatasetContract, dump_contract, load_contract
from slipway.errors import ModelError
from slipway.training.features import Preprocessor
from slipway.training.network import TabularMLP, load_network

CONTRACT, PREPROCESSOR, NETWORK, WEIGHTS = (
    "contract.yaml",
    "preprocessor.json",
    "network.json",
    "weights.pt",
)


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
        torch.save(self.network.state_dict(), folder / WEIGHTS)
        return folder

    @classmethod
    def load(cls, folder: Path) -> ModelBundle:
        return cls(
            load_contract(folder / CONTRACT),
            Preprocessor.load(folder / PREPROCESSOR),
            load_network(folder / NETWORK, folder / WEIGHTS),
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


def find_bundle(model_dir: Path) -> Path:
    """The bundle folder inside an MLflow model folder (or the folder itself)."""
    if (model_dir / WEIGHTS).is_file():
        return model_dir
    mlmodel = model_dir / "MLmodel"
    if mlmodel.is_file():
        spec = YAML(typ="safe").load(mlmodel.read_text(encoding="utf-8"))
        data = spec.get("flavors", {}).get("python_function", {}).get("data")
        if data and (model_dir / str(data) / WEIGHTS).is_file():
            return model_dir / str(data)
    raise ModelError(f"no slipway model bundle in {model_dir} (expected {WEIGHTS})")
