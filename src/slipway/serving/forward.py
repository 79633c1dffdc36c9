"""The network's forward pass in numpy, built from the bundle's spec and weights.

What serving supports: the network the bundle's spec describes
(``slipway.bundle.network.NetworkSpec``), the MLP slipway trains: ``Linear -> ReLU ->
Dropout`` per hidden size, then one ``Linear`` to a single logit, with the weights read
from ``weights.safetensors`` (plain arrays: no torch, no pickle). Dropout is the identity
at inference. A network of another shape needs its own spec in ``slipway.bundle.network``
and its forward pass here; the predictor never falls back to torch.

For the small MLPs slipway trains, a batch-1 forward pass through torch costs far more in
per-operator dispatch than in arithmetic (tens of microseconds against a few), so the
numpy pass is also the fast one. It gives the torch network's probabilities to float32
precision (tested).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import numpy as np

from slipway.bundle.network import NetworkSpec

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


def compile_network(spec: NetworkSpec, weights: Mapping[str, np.ndarray]) -> NumpyMLP:
    """The numpy forward pass of the network ``spec`` describes, with ``weights`` (checked
    against the spec: ModelError when a parameter is missing, extra or mis-shaped)."""
    spec.check_weights(weights, "weights")
    return NumpyMLP(
        [
            (np.ascontiguousarray(weights[layer.weight].T), weights[layer.bias], layer.relu)
            for layer in spec.layers()
        ]
    )
