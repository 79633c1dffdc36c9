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

import math
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from slipway.training.network import TabularMLP

Forward = Callable[[np.ndarray], np.ndarray]


class NumpyMLP:
    """``x -> sigmoid(logit)`` with the network's weights as float32 numpy arrays.

    Biases ride inside the matrices (the "bias trick"): each layer's input carries a
    constant 1 in its last column, and each hidden layer's matrix has one more output
    column that copies that 1 forward (ReLU(1) = 1). A layer is then one matrix product
    and one in-place ReLU, the fewest numpy calls per request: for batch 1 the cost of a
    numpy call is its dispatch, not its arithmetic.
    """

    def __init__(self, layers: list[tuple[np.ndarray, np.ndarray, bool]]) -> None:
        self.layers = layers
        self.matrices: list[np.ndarray] = []
        self.relu: list[bool] = []
        last = len(layers) - 1
        for i, (weight, bias, relu) in enumerate(layers):
            n_in, n_out = weight.shape
            extra = 0 if i == last else 1
            augmented = np.zeros((n_in + 1, n_out + extra), dtype=np.float32)
            augmented[:n_in, :n_out] = weight
            augmented[n_in, :n_out] = bias
            if extra:
                augmented[n_in, n_out] = 1.0  # carry the constant 1 to the next layer
            self.matrices.append(augmented)
            self.relu.append(relu)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        h = np.empty((x.shape[0], x.shape[1] + 1), dtype=np.float32)
        h[:, :-1] = x
        h[:, -1] = 1.0
        return self.forward_augmented(h)

    def forward_augmented(self, h: np.ndarray) -> np.ndarray:
        """The forward pass for inputs that already end with a column of ones."""
        for matrix, relu in zip(self.matrices, self.relu, strict=True):
            h = h @ matrix
            if relu:
                np.maximum(h, 0.0, out=h)
        if h.shape[0] == 1:
            z = float(h[0, 0])
            # exp(-z) overflows for z below about -709: the probability is then 0.
            return np.array([1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0])
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


def forward_for(network: TabularMLP) -> tuple[Forward, str, bool]:
    """The fastest exact forward pass available, its name (for logs and metrics), and
    whether it takes its input with a trailing column of ones (see NumpyMLP)."""
    compiled = compile_network(network)
    if compiled is not None:
        return compiled.forward_augmented, "numpy", True
    return torch_forward(network), "torch", False
