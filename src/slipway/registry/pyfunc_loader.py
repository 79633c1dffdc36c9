"""MLflow's ``loader_module`` for slipway models (``mlflow.pyfunc.load_model``).

Why a loader module and not MLflow's PyTorch flavour: the model is the preprocessing and
the network together, and the pytorch flavour would carry only the network. Its default
``pt2`` format (torch.export) also ties loading to export semantics, and the pickle format
runs code on load. A loader module reads the bundle's plain files instead (see
slipway.bundle.layout); it rebuilds the torch network from ``weights.pt``, so bundles saved
before ``weights.safetensors`` existed load here as they did.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from slipway.bundle.layout import find_bundle
from slipway.training.model_bundle import ModelBundle


class SlipwayPyfunc:
    def __init__(self, bundle: ModelBundle) -> None:
        self.bundle = bundle

    def predict(self, model_input: Any, params: dict[str, Any] | None = None) -> pd.DataFrame:
        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        return self.bundle.predict_frame(frame)


def _load_pyfunc(data_path: str) -> SlipwayPyfunc:
    return SlipwayPyfunc(ModelBundle.load(find_bundle(Path(data_path))))
