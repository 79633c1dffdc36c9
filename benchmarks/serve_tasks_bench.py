"""What serving a network through torch costs against the numpy fast path, per task, in one
run; and the binary fast path against an earlier revision's (to show it kept its speed).

The same weights run both ways: slipway's built-in MLP compiled to numpy
(slipway.serving.forward.compile_network) and the same architecture as a ``kind: custom``
network, built by the factory below and run by torch (TorchForward), which is how a team's
own network is served. Batches of 1 (the online case) and 64. Each timing is the median of
``--rounds`` rounds of ``--number`` calls, the variants interleaved in every round so that
background load hits all alike; the figures that matter are the ratios.

    .venv/bin/python benchmarks/serve_tasks_bench.py --baseline-rev 42a1f16
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from slipway.bundle.network import NetworkSpec
from slipway.serving.forward import TorchForward, compile_network

REPO = Path(__file__).resolve().parents[1]
INPUT_DIM, HIDDEN = 20, (64, 32)
TASKS = {"binary": 1, "multiclass": 5, "regression": 1}


class _MLP(nn.Module):
    """slipway's MLP architecture (the numpy pass's parameter names), as a custom network."""

    def __init__(self, input_dim: int, output_dim: int, hidden: list[int]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = input_dim
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU(), nn.Dropout(0.0)]
            width = size
        layers.append(nn.Linear(width, output_dim))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(x)
        return out


def build_mlp(input_dim: int, output_dim: int, hidden: list[int]) -> nn.Module:
    """The factory a custom spec names (``serve_tasks_bench:build_mlp``)."""
    return _MLP(input_dim, output_dim, hidden)


def _time(calls: dict[str, Callable[[], Any]], rounds: int, number: int) -> dict[str, float]:
    """Median microseconds per call of each callable, interleaved per round."""
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            start = time.perf_counter()
            for _ in range(number):
                call()
            samples[name].append((time.perf_counter() - start) / number * 1e6)
    return {name: statistics.median(values) for name, values in samples.items()}


def _bound(network: Any, h: np.ndarray) -> Callable[[], Any]:
    forward = network.forward_augmented  # bound once, as the predictor does
    return lambda: forward(h)


def _baseline_forward(rev: str) -> Any:
    """forward.py as it was at ``rev``, imported as its own module."""
    source = subprocess.run(
        ["git", "-C", str(REPO), "show", f"{rev}:src/slipway/serving/forward.py"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    path = Path(tempfile.mkdtemp()) / "forward_baseline.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("forward_baseline", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(rounds: int, number: int, baseline_rev: str | None) -> dict[str, Any]:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    torch.set_num_threads(1)  # as a predictor pinned to one core
    rng = np.random.default_rng(0)
    results: dict[str, Any] = {}
    for task, width in TASKS.items():
        torch.manual_seed(0)
        module = build_mlp(INPUT_DIM, width, list(HIDDEN))
        weights = {k: v.detach().numpy().copy() for k, v in module.state_dict().items()}
        scaling = {"output_scale": 3.0, "output_shift": 10.0} if task == "regression" else {}
        mlp = NetworkSpec(INPUT_DIM, HIDDEN, 0.0, output_dim=width, **scaling)
        custom = NetworkSpec(
            INPUT_DIM, (), 0.0, output_dim=width, kind="custom",
            factory="serve_tasks_bench:build_mlp", params={"hidden": list(HIDDEN)}, **scaling,
        )  # fmt: skip
        fast = compile_network(mlp, weights, task)
        slow = compile_network(custom, weights, task)
        assert isinstance(slow, TorchForward)
        for batch in (1, 64):
            x = rng.normal(size=(batch, INPUT_DIM)).astype(np.float32)
            h = np.hstack([x, np.ones((batch, 1), np.float32)])
            np.testing.assert_allclose(
                fast.forward_augmented(h), slow.forward_augmented(h), rtol=1e-5, atol=1e-6
            )
            timed = _time({"numpy": _bound(fast, h), "torch": _bound(slow, h)}, rounds, number)
            results[f"{task}/batch{batch}"] = {
                "numpy_us": round(timed["numpy"], 2),
                "torch_us": round(timed["torch"], 2),
                "torch_over_numpy": round(timed["torch"] / timed["numpy"], 2),
            }
        if task == "binary" and baseline_rev:
            old = _baseline_forward(baseline_rev).compile_network(mlp, weights)
            h = np.hstack([rng.normal(size=(1, INPUT_DIM)), np.ones((1, 1))]).astype(np.float32)
            assert np.array_equal(old.forward_augmented(h), fast.forward_augmented(h))
            timed = _time({"before": _bound(old, h), "after": _bound(fast, h)}, rounds, number)
            results["binary/batch1 fast path vs " + baseline_rev] = {
                "before_us": round(timed["before"], 2),
                "after_us": round(timed["after"], 2),
                "after_over_before": round(timed["after"] / timed["before"], 3),
            }
    return {
        "network": {"input_dim": INPUT_DIM, "hidden": list(HIDDEN), "outputs": TASKS},
        "rounds": rounds,
        "number": number,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "results": results,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--number", type=int, default=2000)
    parser.add_argument("--baseline-rev", default=None, help="git revision of forward.py")
    parser.add_argument(
        "--out", type=Path, default=REPO / "benchmarks" / "serve_tasks_results.json"
    )
    args = parser.parse_args()
    report = run(args.rounds, args.number, args.baseline_rev)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report["results"], indent=2))


if __name__ == "__main__":
    main()
