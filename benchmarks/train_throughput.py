"""Training throughput: slipway's loop with tracking and checkpoints against a bare loop.

All variants train the same network on the same rows for the same number of epochs, in
one process, interleaved round by round so that machine noise hits them alike:

  bare             a plain PyTorch loop: shuffle, forward, backward, step, one validation
                   pass per epoch (the limit: nothing slipway adds)
  slipway          slipway.training.trainer.train with no tracking and no checkpoints
  slipway+mlflow   slipway.training.trainer.train logging every epoch to a real MLflow server and
                   checkpointing the best weights (what the pipeline's train step does)

Prints samples per second (median of the rounds) and each variant's ratio to bare. The
overhead of tracking and checkpoints is 1 - (slipway+mlflow / bare).

    .venv/bin/python benchmarks/train_throughput.py [--rows 50000] [--epochs 6] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

import mlflow
import numpy as np
import torch
from mlflow.tracking import MlflowClient
from torch import nn

from slipway.config import TrainingSettings, load_settings
from slipway.data import synthetic
from slipway.data.contract import load_contract
from slipway.local.stack import start_mlflow
from slipway.registry import tracking
from slipway.training.features import Preprocessor
from slipway.training.network import NetworkSpec, TabularMLP
from slipway.training.trainer import seed_everything, train

Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def make_data(rows: int) -> Arrays:
    frame = synthetic.generate(rows, seed=0)
    contract = load_contract(load_settings().data.contract)
    cut = int(rows * 0.85)
    pre = Preprocessor.fit(frame.iloc[:cut], contract)
    x = pre.transform(frame)
    y = frame[contract.label].to_numpy(dtype=np.float32)
    return x[:cut], y[:cut], x[cut:], y[cut:]


def bare_loop(data: Arrays, settings: TrainingSettings) -> float:
    """The limit: the same work as one slipway epoch, minus everything slipway adds."""
    x_train, y_train, x_val, y_val = (torch.from_numpy(a) for a in data)
    seed_everything(settings.seed)
    model = TabularMLP(
        NetworkSpec(x_train.shape[1], tuple(settings.hidden_sizes), settings.dropout)
    )
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay
    )
    loss_fn = nn.BCEWithLogitsLoss()
    started = time.perf_counter()
    for _ in range(settings.epochs):
        model.train()
        order = torch.randperm(len(x_train))
        for start in range(0, len(order), settings.batch_size):
            batch = order[start : start + settings.batch_size]
            optimizer.zero_grad(set_to_none=True)
            loss_fn(model(x_train[batch]), y_train[batch]).backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            loss_fn(model(x_val), y_val)
    return len(x_train) * settings.epochs / (time.perf_counter() - started)


def slipway_loop(data: Arrays, settings: TrainingSettings) -> float:
    started = time.perf_counter()
    train(*data, settings)
    return len(data[0]) * settings.epochs / (time.perf_counter() - started)


Variant = Callable[[Arrays, TrainingSettings], float]


def slipway_tracked(client: MlflowClient, experiment_id: str) -> Variant:
    def run(data: Arrays, settings: TrainingSettings) -> float:
        run_id = client.create_run(experiment_id).info.run_id
        with tempfile.TemporaryDirectory() as checkpoints:
            started = time.perf_counter()
            logger = tracking.EpochLogger(client, run_id)
            train(*data, settings, checkpoint_dir=Path(checkpoints), on_epoch=logger)
            logger.flush()
            elapsed = time.perf_counter() - started
        client.set_terminated(run_id)
        return len(data[0]) * settings.epochs / elapsed

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    # Every epoch runs: no early stop, and min_delta 0 so each improvement is checkpointed.
    settings = TrainingSettings(
        epochs=args.epochs, patience=args.epochs + 1, min_delta=0.0, progress=False
    )
    data = make_data(args.rows)

    with tempfile.TemporaryDirectory() as state:
        server = start_mlflow(Path(state))
        try:
            mlflow.set_tracking_uri(server.url)
            client = MlflowClient(server.url)
            experiment_id = client.create_experiment("train-throughput")
            variants: dict[str, Variant] = {
                "bare": bare_loop,
                "slipway": slipway_loop,
                "slipway+mlflow": slipway_tracked(client, experiment_id),
            }
            results: dict[str, list[float]] = {name: [] for name in variants}
            bare_loop(data, settings)  # warm-up: first-call allocations and lazy imports
            for _ in range(args.rounds):
                for name, variant in variants.items():
                    results[name].append(variant(data, settings))
        finally:
            server.stop()

    bare = statistics.median(results["bare"])
    print(f"rows {len(data[0])} train, epochs {args.epochs}, batch {settings.batch_size}, "
          f"threads {args.threads}, rounds {args.rounds}")  # fmt: skip
    print(f"{'variant':<16} {'samples/s':>12} {'vs bare':>8}")
    for name, values in results.items():
        median = statistics.median(values)
        print(f"{name:<16} {median:>12,.0f} {median / bare:>8.3f}")
    overhead = 1 - statistics.median(results["slipway+mlflow"]) / bare
    print(f"overhead of slipway's loop with tracking and checkpoints: {overhead:.1%} (goal < 10%)")


if __name__ == "__main__":
    main()
