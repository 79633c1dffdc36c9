"""The PyTorch network: a multi-layer perceptron for tabular binary classification.

Its shape and parameter names are ``slipway.bundle.network.NetworkSpec``'s (shared with
the predictor, which runs the same arithmetic in numpy).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from torch import nn

from slipway.bundle.network import NetworkSpec

__all__ = ["NetworkSpec", "TabularMLP", "load_network", "network_from_arrays", "weight_arrays"]


class TabularMLP(nn.Module):
    """Linear -> ReLU -> Dropout blocks, then one logit."""

    def __init__(self, spec: NetworkSpec) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = spec.input_dim
        for hidden in spec.hidden_sizes:
            layers += [nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(spec.dropout)]
            width = hidden
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)
        self.spec = spec

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.net(x).squeeze(-1)
        return logits


def load_network(spec_path: Path, weights_path: Path) -> TabularMLP:
    """Rebuild the network and load its weights; ``weights_only`` refuses pickled code."""
    model = TabularMLP(NetworkSpec.load(spec_path))
    state = torch.load(weights_path, map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    model.eval()
    return model


def weight_arrays(network: TabularMLP) -> dict[str, np.ndarray]:
    """The network's parameters as float32 numpy arrays, named as the spec names them."""
    return {
        name: tensor.detach().cpu().to(torch.float32).numpy().copy()
        for name, tensor in network.state_dict().items()
    }


def network_from_arrays(spec: NetworkSpec, weights: Mapping[str, np.ndarray]) -> TabularMLP:
    """The torch network with ``weights`` (as ``weight_arrays`` gives them) loaded."""
    model = TabularMLP(spec)
    model.load_state_dict({name: torch.from_numpy(np.array(a)) for name, a in weights.items()})
    model.eval()
    return model
