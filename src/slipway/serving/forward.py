"""The network's forward pass, built from the bundle's spec and weights, per task.

What a forward pass returns (its "scores"), by the contract's task:

    binary       P(positive class) per row, shape [n]          sigmoid of the one logit
    multiclass   the class probabilities, shape [n, K]         softmax of the K logits,
                 in the contract's ``classes`` order
    regression   the predicted value, shape [n]                raw * output_scale + output_shift

``kind: mlp`` (the network slipway builds in) runs in numpy, from ``weights.safetensors``
(plain arrays: no torch, no pickle). For the small MLPs slipway trains, a batch-1 forward
pass through torch costs far more in per-operator dispatch than in arithmetic (tens of
microseconds against a few), so the numpy pass is also the fast one; it gives the torch
network's outputs to float32 precision (tested). ``benchmarks/serve_tasks_bench.py``
measures the difference.

``kind: custom`` (a team's own ``torch.nn.Module``, built by its factory) can only run in
torch: ``TorchForward`` imports torch and the factory's module when such a bundle is
loaded, and nowhere else. The predictor image has no torch, so there it is a ModelError
that says to serve the model with the trainer image (see docs/serving.md).
"""

from __future__ import annotations

import importlib
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from slipway.bundle.network import NetworkSpec
from slipway.errors import ModelError

Forward = Callable[[np.ndarray], np.ndarray]

#: The image that has torch (and the whole slipway package): what serves a custom network.
TORCH_IMAGE = "images/trainer (slipway-trainer)"


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """P(positive) from logits of shape [n] (or [n, 1]), as float64 [n]."""
    z = np.asarray(logits, dtype=np.float64).reshape(-1)
    # Clipped so that exp(-z) cannot overflow: the probability is 0 or 1 there anyway.
    result: np.ndarray = 1.0 / (1.0 + np.exp(-np.clip(z, -700.0, 700.0)))
    return result


def softmax(logits: np.ndarray) -> np.ndarray:
    """Class probabilities from logits [n, K], as float64 [n, K]; the row's largest logit
    is subtracted first, so no exp overflows whatever the logits' size."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    result: np.ndarray = z
    return result


class NumpyMLP:
    """``x -> sigmoid(logit)`` (binary) with the network's weights as float32 numpy arrays;
    the subclasses below end the same layers with the other tasks' outputs.

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

    def logits(self, h: np.ndarray) -> np.ndarray:
        """The last layer's raw outputs [n, output_dim], for inputs ending with ones."""
        for matrix, relu in zip(self.matrices, self.relu, strict=True):
            h = h @ matrix
            if relu:
                np.maximum(h, 0.0, out=h)
        return h

    def forward_augmented(self, h: np.ndarray) -> np.ndarray:
        """The forward pass for inputs that already end with a column of ones."""
        # The binary hot path, inlined (no call to logits()): batch 1 is a few microseconds,
        # and a Python call is a measurable part of that.
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


class NumpySoftmaxMLP(NumpyMLP):
    """The MLP ending in a softmax over its K outputs: multiclass probabilities [n, K]."""

    def forward_augmented(self, h: np.ndarray) -> np.ndarray:
        return softmax(self.logits(h))


class NumpyRegressionMLP(NumpyMLP):
    """The MLP's one output rescaled to the label's units: ``raw * scale + shift`` [n]."""

    def __init__(
        self, layers: list[tuple[np.ndarray, np.ndarray, bool]], scale: float, shift: float
    ) -> None:
        super().__init__(layers)
        self.scale, self.shift = scale, shift

    def forward_augmented(self, h: np.ndarray) -> np.ndarray:
        raw = self.logits(h)[:, 0].astype(np.float64)
        result: np.ndarray = raw * self.scale + self.shift
        return result


class TorchForward:
    """A custom network (``kind: custom``) run by torch, its outputs mapped per task as the
    numpy passes map theirs. Built by the factory the spec names, its state dict loaded
    from the bundle's safetensors arrays with ``strict=True`` (no pickle anywhere)."""

    def __init__(
        self,
        spec: NetworkSpec,
        weights: Mapping[str, np.ndarray],
        task: str,
        code_dirs: Sequence[Path] = (),
    ) -> None:
        try:
            # Imported here only: the one path that needs torch, taken when a custom
            # network's bundle is loaded. The "predictor" import contract (pyproject)
            # names this import as its one exception; the predictor image has no torch.
            import torch
        except ImportError as exc:
            raise ModelError(
                f"this model's network is custom ({spec.factory}), which only torch can run, "
                f"and torch is not installed here (the predictor image has none): serve it "
                f"with {TORCH_IMAGE}, which has torch (the model-serving chart's "
                "`network: custom`); see docs/serving.md"
            ) from exc
        self.torch: Any = torch
        self.task = task
        self.scale, self.shift = spec.output_scale, spec.output_shift
        module = build_custom(spec, code_dirs)
        state = {name: torch.from_numpy(np.array(array)) for name, array in weights.items()}
        try:
            module.load_state_dict(state, strict=True)
        except (RuntimeError, KeyError) as exc:  # missing, unexpected or mis-shaped
            raise ModelError(
                f"the weights do not fit the custom network {spec.factory}: {exc}"
            ) from exc
        module.eval()
        self.module = module

    def __call__(self, x: np.ndarray) -> np.ndarray:
        with self.torch.inference_mode():
            out = self.module(self.torch.from_numpy(np.ascontiguousarray(x, np.float32)))
        raw = out.detach().numpy().reshape(x.shape[0], -1)
        if self.task == "multiclass":
            return softmax(raw)
        if self.task == "regression":
            result: np.ndarray = raw[:, 0].astype(np.float64) * self.scale + self.shift
            return result
        return sigmoid(raw[:, 0])

    def forward_augmented(self, h: np.ndarray) -> np.ndarray:
        """The same, for inputs with the trailing column of ones the numpy passes use."""
        return self(h[:, :-1])


def build_custom(spec: NetworkSpec, code_dirs: Sequence[Path] = ()) -> Any:
    """The module ``factory(input_dim=..., output_dim=..., **params)`` returns; ModelError
    naming the factory when it cannot be imported or called. ``code_dirs`` (the MLflow
    model's code_paths, where the pipeline copies the factory's code) go at the end of
    sys.path: what is installed wins, the model's copy is the fallback."""
    assert spec.factory is not None  # NetworkSpec refuses a custom spec without one
    for folder in code_dirs:
        if str(folder) not in sys.path:
            sys.path.append(str(folder))
    module_name, _, function_name = spec.factory.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), function_name)
    except (ImportError, AttributeError) as exc:
        raise ModelError(
            f"the custom network's factory {spec.factory} cannot be imported here ({exc}): "
            f"its module must be installed in the serving image"
        ) from exc
    try:
        return factory(input_dim=spec.input_dim, output_dim=spec.output_dim, **spec.params)
    except Exception as exc:  # the team's code: any failure means the model cannot load
        raise ModelError(f"the custom network's factory {spec.factory} failed: {exc!r}") from exc


def compile_network(
    spec: NetworkSpec,
    weights: Mapping[str, np.ndarray],
    task: str = "binary",
    code_dirs: Sequence[Path] = (),
) -> NumpyMLP | TorchForward:
    """The forward pass of the network ``spec`` describes for ``task``, with ``weights``
    (checked against the spec: ModelError when a parameter is missing, extra or
    mis-shaped, or when the output width does not fit the task)."""
    if spec.kind == "custom":
        return TorchForward(spec, weights, task, code_dirs)
    spec.check_weights(weights, "weights")
    layers = [
        (np.ascontiguousarray(weights[layer.weight].T), weights[layer.bias], layer.relu)
        for layer in spec.layers()
    ]
    if task == "multiclass":
        if spec.output_dim < 2:
            raise ModelError(f"a multiclass network needs 2 or more outputs, has {spec.output_dim}")
        return NumpySoftmaxMLP(layers)
    if spec.output_dim != 1:
        raise ModelError(f"a {task} network has one output, this one has {spec.output_dim}")
    if task == "regression":
        return NumpyRegressionMLP(layers, spec.output_scale, spec.output_shift)
    return NumpyMLP(layers)
