"""The PyTorch network: the built-in multi-layer perceptron, or a team's own module.

The built-in MLP's shape and parameter names are ``slipway.bundle.network.NetworkSpec``'s
(shared with the predictor, which runs the same arithmetic in numpy). A custom network
(``kind: custom``) is built by the function its spec's ``factory`` names
(``package.module:function``), called as ``factory(input_dim=, output_dim=, **params)``;
it must return a ``torch.nn.Module`` that maps ``(rows, input_dim)`` to
``(rows, output_dim)`` (or ``(rows,)`` when ``output_dim`` is 1).

Either way the network's forward gives ``(rows,)`` for one output and ``(rows, K)`` for K,
which is what the losses and the bundle's predictions expect.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from slipway.bundle.network import NetworkSpec
from slipway.errors import ModelError

__all__ = [
    "NetworkSpec",
    "SlipwayNetwork",
    "TabularMLP",
    "build_network",
    "import_factory",
    "load_network",
    "network_from_arrays",
    "weight_arrays",
]


class SlipwayNetwork(nn.Module):
    """A network with its spec: the built-in MLP, or a custom module wrapped as ``inner``.

    The wrapper fixes the output's shape (one output squeezed to a vector), so every
    caller sees the same thing whichever module computes it."""

    spec: NetworkSpec

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.compute(x)
        if self.spec.output_dim == 1 and out.dim() == 2:
            out = out.squeeze(-1)
        return out

    def compute(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


class TabularMLP(SlipwayNetwork):
    """Linear -> ReLU -> Dropout blocks, then ``output_dim`` outputs."""

    def __init__(self, spec: NetworkSpec) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = spec.input_dim
        for hidden in spec.hidden_sizes:
            layers += [nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(spec.dropout)]
            width = hidden
        layers.append(nn.Linear(width, spec.output_dim))
        self.net = nn.Sequential(*layers)
        self.spec = spec

    def compute(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(x)
        return out


class CustomNetwork(SlipwayNetwork):
    """A team's module; its parameters keep the module's own names under ``inner.``."""

    def __init__(self, spec: NetworkSpec, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.spec = spec

    def compute(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.inner(x)
        return out

    # The state dict is the team's module's own, so the bundle's weights read the same
    # whether or not slipway's wrapper is around them.
    def state_dict(self, *args: Any, **kwargs: Any) -> Any:
        return self.inner.state_dict(*args, **kwargs)

    def load_state_dict(self, state_dict: Mapping[str, Any], *args: Any, **kwargs: Any) -> Any:
        return self.inner.load_state_dict(state_dict, *args, **kwargs)


def import_factory(path: str) -> Callable[..., Any]:
    """The function ``path`` ("package.module:function") names.

    The module is imported from ``sys.path``, with the current directory on it (as
    ``python -m`` has it), so a config run from a repository root finds the repository's
    ``examples.models...``; a ModelError says what does not import or is not callable."""
    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute:
        raise ModelError(f"network factory {path!r}: expected 'package.module:function'")
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.append(cwd)  # after everything else: the current folder never shadows
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ModelError(f"network factory {path!r}: cannot import {module_name}: {exc}") from exc
    factory = getattr(module, attribute, None)
    if factory is None:
        raise ModelError(f"network factory {path!r}: {module_name} has no {attribute!r}")
    if not callable(factory):
        raise ModelError(f"network factory {path!r}: {attribute} is not callable")
    return factory  # type: ignore[no-any-return]


def _custom(spec: NetworkSpec) -> CustomNetwork:
    assert spec.factory is not None  # NetworkSpec requires it for kind custom
    factory = import_factory(spec.factory)
    try:
        module = factory(input_dim=spec.input_dim, output_dim=spec.output_dim, **spec.params)
    except TypeError as exc:  # a parameter the factory does not take
        raise ModelError(f"network factory {spec.factory!r} refused its arguments: {exc}") from exc
    if not isinstance(module, nn.Module):
        raise ModelError(
            f"network factory {spec.factory!r} returned {type(module).__name__}, "
            "not a torch.nn.Module"
        )
    network = CustomNetwork(spec, module)
    _check_output_width(network)
    return network


def _check_output_width(network: CustomNetwork) -> None:
    """ModelError unless two rows in give the spec's outputs out (before any training)."""
    spec = network.spec
    was_training = network.training
    network.eval()
    try:
        with torch.no_grad():
            out = network(torch.zeros(2, spec.input_dim))
    except Exception as exc:  # a module that cannot take (rows, input_dim)
        raise ModelError(
            f"network {spec.factory!r} cannot run on input of width {spec.input_dim}: {exc}"
        ) from exc
    finally:
        network.train(was_training)
    expected = (2,) if spec.output_dim == 1 else (2, spec.output_dim)
    if tuple(out.shape) != expected:
        raise ModelError(
            f"network {spec.factory!r} gives outputs of shape {list(out.shape[1:])} per batch "
            f"row; the task needs {spec.output_dim}"
        )


def build_network(spec: NetworkSpec) -> SlipwayNetwork:
    """The untrained network the spec describes."""
    return _custom(spec) if spec.kind == "custom" else TabularMLP(spec)


def load_network(spec_path: Path, weights_path: Path) -> SlipwayNetwork:
    """Rebuild the network and load its weights; ``weights_only`` refuses pickled code."""
    model = build_network(NetworkSpec.load(spec_path))
    state = torch.load(weights_path, map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    model.eval()
    return model


def weight_arrays(network: nn.Module) -> dict[str, np.ndarray]:
    """The network's parameters as float32 numpy arrays, named as the spec names them."""
    return {
        name: tensor.detach().cpu().to(torch.float32).numpy().copy()
        for name, tensor in network.state_dict().items()
    }


def network_from_arrays(spec: NetworkSpec, weights: Mapping[str, np.ndarray]) -> SlipwayNetwork:
    """The torch network with ``weights`` (as ``weight_arrays`` gives them) loaded."""
    model = build_network(spec)
    model.load_state_dict({name: torch.from_numpy(np.array(a)) for name, a in weights.items()})
    model.eval()
    return model
