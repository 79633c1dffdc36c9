"""Model bundles per task for the task-serving tests (this module holds no tests).

Each bundle is written the way training writes one (contract.yaml, preprocessor.json,
network.json, weights.safetensors) over scikit-learn's bundled datasets, which slipway does
not generate: iris (multiclass, its label as category names or as ints) and diabetes
(regression). The networks are seeded and untrained: these tests are about serving's
arithmetic and wire format, not model quality. Each comes with its torch module, the
in-process reference the served answers are held to.
"""

from __future__ import annotations

import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from sklearn import datasets
from torch import nn

from slipway.bundle.layout import CONTRACT, NETWORK, PREPROCESSOR, WEIGHTS
from slipway.bundle.network import NetworkSpec
from slipway.bundle.preprocessing import FittedPreprocessing, NumericFeature
from slipway.bundle.weights import save_weights
from slipway.data.contract import Column, DatasetContract, dump_contract
from slipway.local import processes
from slipway.local.processes import Managed, free_port
from slipway.training.network import TabularMLP

Kind = Literal["iris", "iris-int", "diabetes"]
IRIS_CLASSES = ("setosa", "versicolor", "virginica")
#: The module of the example custom network, written next to the bundles and put on the
#: predictor's PYTHONPATH (the factory must be importable where the model is served).
FACTORY_MODULE = "slipway_task_test_nets"
FACTORY_SOURCE = textwrap.dedent(
    '''
    """A team's own network: a residual-free tanh MLP, not slipway's architecture."""
    from torch import nn


    class TanhNet(nn.Module):
        def __init__(self, input_dim: int, output_dim: int, width: int) -> None:
            super().__init__()
            self.body = nn.Sequential(
                nn.Linear(input_dim, width), nn.Tanh(), nn.Linear(width, output_dim)
            )

        def forward(self, x):
            return self.body(x)


    def build(input_dim: int, output_dim: int, width: int = 16) -> nn.Module:
        return TanhNet(input_dim, output_dim, width)
    '''
)


@dataclass
class TaskBundle:
    folder: Path
    contract: DatasetContract
    preprocessing: FittedPreprocessing
    spec: NetworkSpec
    module: nn.Module
    features: pd.DataFrame  # the raw features, in the contract's column names

    def rows(self, n: int, offset: int = 0) -> list[dict[str, Any]]:
        step = max(1, len(self.features) // n)
        picked = self.features.iloc[offset::step].head(n)
        return picked.to_dict("records")  # type: ignore[no-any-return]

    def reference(self, rows: list[dict[str, Any]]) -> np.ndarray:
        """The torch module's answer per task: P(positive) [n], probabilities [n, K] or
        values [n], in float64 after the network (as the predictor maps its outputs)."""
        names = [f.name for f in self.preprocessing.numeric]
        raw = np.array([[row[name] for name in names] for row in rows], dtype=np.float64)
        mean = np.array([f.mean for f in self.preprocessing.numeric])
        std = np.array([f.std for f in self.preprocessing.numeric])
        x = torch.from_numpy(((raw - mean) / std).astype(np.float32))
        with torch.no_grad():
            # One output comes back as a vector from TabularMLP: one column per output.
            out = self.module.eval()(x).double().reshape(len(rows), -1)
        if self.contract.task == "multiclass":
            return torch.softmax(out, dim=1).numpy()
        if self.contract.task == "regression":
            return (out[:, 0] * self.spec.output_scale + self.spec.output_shift).numpy()
        return torch.sigmoid(out[:, 0]).numpy()

    @property
    def labels(self) -> tuple[str | int, ...]:
        return self.contract.class_labels


def _frame(kind: Kind) -> tuple[pd.DataFrame, pd.Series]:
    if kind == "diabetes":
        data = datasets.load_diabetes(as_frame=True, scaled=False)
    else:
        data = datasets.load_iris(as_frame=True)
    features = data.frame.drop(columns=["target"])
    features.columns = [
        c.replace(" (cm)", "").replace(" ", "_") for c in features.columns.astype(str)
    ]
    return features.astype(float), data.frame["target"]


def _contract(kind: Kind, features: pd.DataFrame, target: pd.Series) -> DatasetContract:
    columns = [
        Column(name=c, dtype="float", min=float(features[c].min()) - 1.0,
               max=float(features[c].max()) + 1.0)
        for c in features.columns
    ]  # fmt: skip
    if kind == "iris":
        label = Column(name="species", dtype="category", categories=IRIS_CLASSES)
        return DatasetContract(
            name="iris", label="species", task="multiclass", columns=(*columns, label)
        )
    if kind == "iris-int":
        label = Column(name="species", dtype="int", min=0, max=2)
        return DatasetContract(
            name="iris", label="species", task="multiclass", classes=("0", "1", "2"),
            columns=(*columns, label),
        )  # fmt: skip
    label = Column(
        name="progression", dtype="float", min=float(target.min()), max=float(target.max())
    )
    return DatasetContract(
        name="diabetes", label="progression", task="regression", columns=(*columns, label)
    )


def build_bundle(folder: Path, kind: Kind, custom: bool = False, seed: int = 0) -> TaskBundle:
    """Write a bundle of ``kind`` to ``folder``: the built-in MLP, or with ``custom`` the
    example custom network (FACTORY_SOURCE, written beside the bundle)."""
    features, target = _frame(kind)
    contract = _contract(kind, features, target)
    preprocessing = FittedPreprocessing(
        tuple(
            NumericFeature(c, float(features[c].mean()), float(features[c].std()))
            for c in features.columns
        ),
        (),
    )
    regression = contract.task == "regression"
    scaling = (
        {"output_scale": float(target.std()), "output_shift": float(target.mean())}
        if regression
        else {}
    )
    torch.manual_seed(seed)
    if custom:
        write_factory(folder.parent)
        spec = NetworkSpec(
            preprocessing.width, (), 0.0, output_dim=contract.output_width, kind="custom",
            factory=f"{FACTORY_MODULE}:build", params={"width": 24}, **scaling,
        )  # fmt: skip
        module = _import_factory(folder.parent)(
            input_dim=spec.input_dim, output_dim=spec.output_dim, width=24
        )
    else:
        spec = NetworkSpec(
            preprocessing.width, (16, 8), 0.1, output_dim=contract.output_width, **scaling
        )
        module = TabularMLP(spec)  # what training builds (seeded, untrained)
    module.eval()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / CONTRACT).write_text(dump_contract(contract), encoding="utf-8")
    preprocessing.save(folder / PREPROCESSOR)
    spec.save(folder / NETWORK)
    weights = {k: v.detach().numpy().copy() for k, v in module.state_dict().items()}
    save_weights(weights, folder / WEIGHTS)
    return TaskBundle(folder, contract, preprocessing, spec, module, features)


def write_factory(directory: Path) -> Path:
    path = directory / f"{FACTORY_MODULE}.py"
    path.write_text(FACTORY_SOURCE, encoding="utf-8")
    return path


def _import_factory(directory: Path) -> Any:
    if str(directory) not in sys.path:
        sys.path.insert(0, str(directory))
    import importlib

    return importlib.import_module(FACTORY_MODULE).build


def serve(
    bundle: TaskBundle, model: str, state: Path, env: dict[str, str] | None = None
) -> Managed:
    """A predictor process (KServe's ModelServer) over ``bundle`` on a free loopback port;
    the custom network's factory module is on its PYTHONPATH."""
    port = free_port()
    return processes.start(
        f"predictor-{model}-{port}",
        [
            sys.executable, "-m", "slipway.serving", "--model-dir", str(bundle.folder),
            "--model-name", model, "--model-version", "1", "--run-id", "test-run",
            "--http-port", str(port), "--host", "127.0.0.1",
        ],
        port=port,
        health_path=f"/v2/models/{model}/ready",
        log_dir=state / "logs",
        env={"PYTHONPATH": str(bundle.folder.parent), **(env or {})},
        timeout=120,
    )  # fmt: skip
