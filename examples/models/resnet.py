"""A small residual MLP: the worked example of a team's own network (docs/models.md).

slipway builds it from the config's ``training.network``::

    training:
      network:
        factory: examples.models.resnet:build
        params: {width: 32, blocks: 2, dropout: 0.1}

calling ``build(input_dim=..., output_dim=..., width=32, blocks=2, dropout=0.1)``. The
input is slipway's preprocessed features (standardised numbers, one-hot categories),
``input_dim`` wide; the output is ``output_dim`` raw values (logits, or the standardised
regression value): slipway applies the sigmoid, softmax or scaling itself.
"""

from __future__ import annotations

import torch
from torch import nn


class ResidualBlock(nn.Module):
    """x + Linear(ReLU(Linear(LayerNorm(x)))): the skip keeps deep stacks trainable."""

    def __init__(self, width: int, dropout: float) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.inner = nn.Sequential(
            nn.Linear(width, width), nn.ReLU(), nn.Dropout(dropout), nn.Linear(width, width)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = x + self.inner(self.norm(x))
        return out


class ResidualMLP(nn.Module):
    def __init__(
        self, input_dim: int, output_dim: int, width: int, blocks: int, dropout: float
    ) -> None:
        super().__init__()
        self.stem = nn.Linear(input_dim, width)
        self.blocks = nn.Sequential(*(ResidualBlock(width, dropout) for _ in range(blocks)))
        self.head = nn.Sequential(nn.LayerNorm(width), nn.ReLU(), nn.Linear(width, output_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.head(self.blocks(self.stem(x)))
        return out


def build(
    *, input_dim: int, output_dim: int, width: int = 32, blocks: int = 2, dropout: float = 0.0
) -> nn.Module:
    """The factory slipway calls: the widths from slipway, the rest from the config."""
    if width < 1 or blocks < 0:
        raise ValueError(f"width must be at least 1 and blocks at least 0, got {width}, {blocks}")
    return ResidualMLP(input_dim, output_dim, width, blocks, dropout)
