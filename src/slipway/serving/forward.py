"""The network's forward pass, compiled to numpy for serving.

For the small MLPs slipway trains, a batch-1 forward pass through torch costs far more in
per-operator dispatch than in arithmetic (tens of microseconds against a few). The
predictor therefore copies the weights of ``Linear -> ReLU -> Dropout`` stacks into numpy
arrays once at load and multiplies them directly; Dropout is the identity in evaluation.
Any other layer makes ``compile_network`` return None, and the predictor falls back to
torch under ``inference_mode``. Both give the same probabilities to float32 precision
(tested).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from slipway.model import TabularMLP

Forward = Callable[[np.ndarray], np.ndarray]


class NumpyMLP:
    """``x -> sigmoid(logit)`` with the network's weights as float32 numpy arrays."""

    def __init__(self, layers: list[tuple[np.ndarray, np.ndarray, bool]]) -> None:
        self.layers = layers

    def __call__(self, x: np.ndarray) -> np.ndarray:
        h = x
        for weight, bias, relu in self.layers:
            h = h @ weight
            h += bias
            if relu:
                np.maximum(h, 0.0, out=h)
        logits = h[:, 0].astype(np.float64)
        result: np.ndarray = 1.0 / (1.0 + np.exp(-logits))
        return result


def compile_network(network: TabularMLP) -> NumpyMLP | None:
    """The numpy twin of ``network``, or None when it has a layer this does not know."""
    layers: list[tuple[np.ndarray, np.ndarray, bool]] = []
    for module in network.net:
        if isinstance(module, nn.Linear):
            weight = module.weight.detach().cpu().numpy().astype(np.float32)
            bias = module.bias.detach().cpu().numpy().astype(np.float32)
            layers.append((np.ascontiguousarray(weight.T), bias, False))
        elif isinstance(module, nn.ReLU) and layers and not layers[-1][2]:
            w, b, _ = layers[-1]
            layers[-1] = (w, b, True)
        elif isinstance(module, nn.Dropout):
            continue
        else:
            return None
    if not layers or layers[-1][0].shape[1] != 1:
        return None
    return NumpyMLP(layers)


def torch_forward(network: TabularMLP) -> Forward:
    """The fallback: the torch module itself, without autograd bookkeeping."""
    network.eval()

    def forward(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            logits = network(torch.from_numpy(x))
            return torch.sigmoid(logits.double()).numpy()

    return forward


def forward_for(network: TabularMLP) -> tuple[Forward, str]:
    """The fastest exact forward pass available, and its name (for logs and metrics)."""
    compiled = compile_network(network)
    if compiled is not None:
        return compiled, "numpy"
    return torch_forward(network), "torch"
