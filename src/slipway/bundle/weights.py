"""The network's weights as numpy arrays, in a safetensors file.

safetensors is a header of names, dtypes and shapes followed by the raw bytes: reading it
runs no pickle and needs no torch (``safetensors.numpy``). Training writes it beside
``weights.pt`` (which MLflow's pyfunc loader reads into the torch network); the predictor
reads only this file.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file, save

from slipway.errors import ModelError
from slipway.state_files import write_atomic


def save_weights(weights: Mapping[str, np.ndarray], path: Path) -> None:
    """Write ``weights`` (name -> float32 array) atomically: a reader never sees half a file,
    and a full disk leaves no partial file behind."""
    data = save({name: np.ascontiguousarray(a) for name, a in weights.items()})
    try:
        write_atomic(path, data)
    except OSError as exc:  # a full disk: no partial weights file is left to be loaded
        raise ModelError(f"cannot write the weights {path}: {exc.strerror or exc}") from exc


def load_weights(path: Path) -> dict[str, np.ndarray]:
    """name -> array; ModelError naming the file when it is not a readable safetensors file."""
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelError(f"cannot read the weights {path}: {exc}") from exc
