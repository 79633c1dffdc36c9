"""The network's spec: its shape, and the name and shape of every parameter.

``kind: mlp`` (the default) is the architecture slipway builds in, a multi-layer
perceptron: ``Linear -> ReLU -> Dropout`` per hidden size, then one ``Linear`` to
``output_dim`` outputs (``slipway.training.network.TabularMLP`` is its torch module). The
parameter names are that module's ``state_dict`` keys, so the weights file means the same
to torch and to numpy; a test holds the module to them.

``kind: custom`` is a team's own ``torch.nn.Module``: ``factory`` is the import path
(``package.module:function``) of a function called as
``factory(input_dim=..., output_dim=..., **params)`` that returns the module. Its
parameters are whatever its ``state_dict`` holds; only torch can run it.

The outputs mean what the contract's task says: binary, one logit (sigmoid); multiclass,
one logit per class in the contract's ``classes`` order (softmax); regression, one value,
``raw * output_scale + output_shift`` (training standardises the target).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

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
    output_dim: int = 1
    kind: Literal["mlp", "custom"] = "mlp"
    factory: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    output_scale: float = 1.0
    output_shift: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in ("mlp", "custom"):
            raise ModelError(f"network spec: kind must be mlp or custom, got {self.kind!r}")
        if self.kind == "custom" and not (self.factory and ":" in self.factory):
            raise ModelError(
                f"network spec: a custom network needs factory 'module:function', "
                f"got {self.factory!r}"
            )
        if self.output_dim < 1:
            raise ModelError(f"network spec: output_dim must be at least 1, got {self.output_dim}")

    def layers(self) -> tuple[LinearLayer, ...]:
        """The affine layers in order; Dropout is the identity at inference and has none."""
        if self.kind != "mlp":
            raise ModelError(f"a {self.kind} network ({self.factory}) has no built-in layers")
        out, width = [], self.input_dim
        sizes = (*self.hidden_sizes, self.output_dim)
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
    def from_dict(cls, data: Mapping[str, Any]) -> NetworkSpec:
        """The spec from its JSON; a spec saved before the optional fields existed gets
        their defaults (a binary MLP)."""
        try:
            hidden = data.get("hidden_sizes", [])
            if not isinstance(hidden, list | tuple):
                raise ModelError(f"network spec: hidden_sizes must be a list, got {hidden!r}")
            params = data.get("params") or {}
            if not isinstance(params, dict):
                raise ModelError(f"network spec: params must be a mapping, got {params!r}")
            factory = data.get("factory")
            return cls(
                int(data["input_dim"]),
                tuple(int(h) for h in hidden),
                float(data.get("dropout", 0.0)),
                output_dim=int(data.get("output_dim", 1)),
                kind=data.get("kind", "mlp"),
                factory=None if factory is None else str(factory),
                params=dict(params),
                output_scale=float(data.get("output_scale", 1.0)),
                output_shift=float(data.get("output_shift", 0.0)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"network spec: {type(exc).__name__}: {exc}") from exc

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> NetworkSpec:
        return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))
