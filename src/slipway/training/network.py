"""The PyTorch network: a multi-layer perceptron for tabular binary classification."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn


@dataclass(frozen=True)
class NetworkSpec:
    """Everything needed to rebuild the network before loading its weights."""

    input_dim: int
    hidden_sizes: tuple[int, ...]
    dropout: float

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> NetworkSpec:
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(int(data["input_dim"]), tuple(data["hidden_sizes"]), float(data["dropout"]))


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
