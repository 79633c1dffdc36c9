"""The network's spec: its shape, and the name and shape of every parameter.

The spec describes the one architecture slipway trains, a multi-layer perceptron:
``Linear -> ReLU -> Dropout`` per hidden size, then one ``Linear`` to a single logit
(``slipway.training.network.TabularMLP`` is its torch module). The parameter names are
that module's ``state_dict`` keys, so the weights file means the same to torch and to
numpy; a test holds the module to them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from slipway.errors import ModelError

#: Modules per hidden block in the torch Sequential (Linear, ReLU, Dropout): the index of
#: a block's Linear, and so its parameter names, steps by this.
_MODULES_PER_BLOCK = 3


@dataclass(frozen=True)
class LinearLayer:
    """One affine layer: ``y = x @ weight.T + bias``, then ReLU when ``relu``."""

    weight: str
    bias: str
    n_in: int
    n_out: int
    relu: bool


@dataclass(frozen=True)
class NetworkSpec:
    """Everything needed to rebuild the network before loading its weights."""

    input_dim: int
    hidden_sizes: tuple[int, ...]
    dropout: float

    def layers(self) -> tuple[LinearLayer, ...]:
        """The affine layers in order; Dropout is the identity at inference and has none."""
        out, width = [], self.input_dim
        sizes = (*self.hidden_sizes, 1)
        for i, size in enumerate(sizes):
            index = i * _MODULES_PER_BLOCK
            hidden = i < len(self.hidden_sizes)
            out.append(LinearLayer(f"net.{index}.weight", f"net.{index}.bias", width, size, hidden))
            width = size
        return tuple(out)

    def parameter_shapes(self) -> dict[str, tuple[int, ...]]:
        """Every parameter's name and shape (torch's layout: weights are (out, in))."""
        shapes: dict[str, tuple[int, ...]] = {}
        for layer in self.layers():
            shapes[layer.weight] = (layer.n_out, layer.n_in)
            shapes[layer.bias] = (layer.n_out,)
        return shapes

    def check_weights(self, weights: Mapping[str, np.ndarray], source: Path | str) -> None:
        """ModelError unless ``weights`` holds exactly this spec's parameters, as finite
        float32 arrays of the right shapes."""
        expected = self.parameter_shapes()
        missing = sorted(set(expected) - set(weights))
        extra = sorted(set(weights) - set(expected))
        if missing or extra:
            raise ModelError(
                f"{source}: the weights do not fit the network spec "
                f"(missing {missing or 'none'}, unexpected {extra or 'none'})"
            )
        for name, shape in expected.items():
            array = weights[name]
            if array.shape != shape or array.dtype != np.float32:
                raise ModelError(
                    f"{source}: {name} is {array.dtype}{list(array.shape)}, "
                    f"the spec needs float32{list(shape)}"
                )
            if not np.isfinite(array).all():
                raise ModelError(f"{source}: {name} holds non-finite values")

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> NetworkSpec:
        hidden = data["hidden_sizes"]
        if not isinstance(hidden, list | tuple):
            raise ModelError(f"network spec: hidden_sizes must be a list, got {hidden!r}")
        return cls(
            int(data["input_dim"]),  # type: ignore[call-overload]
            tuple(int(h) for h in hidden),
            float(data["dropout"]),  # type: ignore[arg-type]
        )

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> NetworkSpec:
        return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))
