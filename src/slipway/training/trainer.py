"""The training loop: seeded, early-stopped, checkpointed, and DDP-aware.

Under ``torchrun`` (WORLD_SIZE > 1) each rank trains on its own shard of every epoch's
permutation and DistributedDataParallel averages the gradients; every rank evaluates the
full validation split, so all ranks take the same early-stopping decision without talking.
Only rank 0 reports progress and writes checkpoints.
"""

from __future__ import annotations

import copy
import io
import os
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from tqdm import tqdm

from slipway.config import TrainingSettings
from slipway.data.contract import Task
from slipway.errors import TrainingError
from slipway.state_files import write_atomic
from slipway.training.network import NetworkSpec, SlipwayNetwork, build_network


@dataclass(frozen=True)
class EpochMetrics:
    """One epoch's figures; ``val_accuracy`` is NaN for regression (it has none)."""

    epoch: int
    train_loss: float
    val_loss: float
    val_accuracy: float
    seconds: float
    samples: int

    def as_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in asdict(self).items() if k != "epoch"}


@dataclass
class TrainResult:
    model: SlipwayNetwork
    best_epoch: int
    best_val_loss: float
    stopped_early: bool
    history: list[EpochMetrics] = field(default_factory=list)

    @property
    def samples_per_second(self) -> float:
        seconds = sum(e.seconds for e in self.history)
        return sum(e.samples for e in self.history) / seconds if seconds else 0.0


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    # Deterministic kernels where torch has them; warn rather than fail where it has not.
    torch.use_deterministic_algorithms(True, warn_only=True)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


def pick_device(choice: str) -> torch.device:
    if choice == "cuda" or (choice == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise TrainingError("device 'cuda' was asked for, but torch sees no CUDA device")
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def _rank_world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _save_atomic(state: dict[str, torch.Tensor], path: Path) -> None:
    # Serialised in memory, then written whole (unique temporary file, fsync, rename): a
    # crash or a full disk leaves the previous checkpoint, never half of a new one.
    buffer = io.BytesIO()
    torch.save(state, buffer)
    try:
        write_atomic(path, buffer.getvalue())
    except OSError as exc:  # a full disk: the previous checkpoint stays
        raise TrainingError(f"cannot write the checkpoint {path}: {exc.strerror or exc}") from exc


def loss_for(task: Task) -> nn.Module:
    """binary: BCE on the logit; multiclass: cross entropy on the K logits; regression:
    mean squared error on the standardised target."""
    if task == "multiclass":
        return nn.CrossEntropyLoss()
    if task == "regression":
        return nn.MSELoss()
    return nn.BCEWithLogitsLoss()


def _accuracy(task: Task, out: torch.Tensor, y: torch.Tensor) -> float:
    if task == "binary":
        return float(((out > 0).float() == y).float().mean())
    if task == "multiclass":
        return float((out.argmax(dim=-1) == y).float().mean())
    return float("nan")


def target_scaling(task: Task, y_train: np.ndarray) -> tuple[float, float]:
    """(scale, shift) with ``value = standardised * scale + shift``: the training target's
    standard deviation and mean for regression (so one learning rate suits any unit),
    the identity otherwise."""
    if task != "regression":
        return 1.0, 0.0
    values = np.asarray(y_train, dtype=np.float64)
    std = float(values.std())
    return (std if std > 0 else 1.0), float(values.mean())


def _targets(
    task: Task, y: np.ndarray, scale: float, shift: float, device: torch.device
) -> torch.Tensor:
    if task == "multiclass":
        return torch.as_tensor(np.asarray(y, dtype=np.int64), device=device)
    values = (np.asarray(y, dtype=np.float64) - shift) / scale
    return torch.as_tensor(values, dtype=torch.float32, device=device)


@torch.no_grad()
def _evaluate(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn: nn.Module, task: Task
) -> tuple[float, float]:
    model.eval()
    out = model(x)
    return float(loss_fn(out, y)), _accuracy(task, out, y)


def network_spec(
    settings: TrainingSettings, input_dim: int, output_dim: int, scaling: tuple[float, float]
) -> NetworkSpec:
    """The spec of the network to train: the configured custom one, else the built-in MLP."""
    scale, shift = scaling
    custom = settings.network
    return NetworkSpec(
        input_dim,
        tuple(settings.hidden_sizes),
        settings.dropout,
        output_dim=output_dim,
        kind="custom" if custom is not None else "mlp",
        factory=custom.factory if custom is not None else None,
        params=dict(custom.params) if custom is not None else {},
        output_scale=scale,
        output_shift=shift,
    )


def train(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    settings: TrainingSettings,
    *,
    task: Task = "binary",
    output_dim: int = 1,
    device: torch.device | None = None,
    checkpoint_dir: Path | None = None,
    on_epoch: Callable[[EpochMetrics], None] | None = None,
) -> TrainResult:
    """Train the configured network for ``task``; returns it with the weights of its best
    validation epoch. Labels: binary 0/1, multiclass the class index (0..output_dim-1),
    regression the value (standardised here; the spec keeps the scaling)."""
    seed_everything(settings.seed)
    if settings.num_threads:
        torch.set_num_threads(settings.num_threads)
    device = device or torch.device("cpu")
    rank, world = _rank_world()

    spec = network_spec(settings, x_train.shape[1], output_dim, target_scaling(task, y_train))
    model = build_network(spec).to(device)
    trained: nn.Module = model
    if world > 1:
        trained = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    optimizer = torch.optim.AdamW(
        trained.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay
    )
    loss_fn = loss_for(task)
    xt = torch.as_tensor(x_train, dtype=torch.float32, device=device)
    yt = _targets(task, y_train, spec.output_scale, spec.output_shift, device)
    xv = torch.as_tensor(x_val, dtype=torch.float32, device=device)
    yv = _targets(task, y_val, spec.output_scale, spec.output_shift, device)

    # Every rank draws the same permutation and takes an equal-length shard of it, so DDP
    # sees the same number of steps on each rank (an uneven count would hang all-reduce).
    generator = torch.Generator().manual_seed(settings.seed)
    per_rank = len(xt) // world
    best_loss, best_epoch, best_state, waited = (
        float("inf"),
        0,
        copy.deepcopy(model.state_dict()),
        0,
    )
    history: list[EpochMetrics] = []
    epochs = tqdm(
        range(1, settings.epochs + 1),
        desc="train",
        unit="epoch",
        disable=None if (settings.progress and rank == 0) else True,
    )
    stopped_early = False
    for epoch in epochs:
        started = time.perf_counter()
        trained.train()
        order = torch.randperm(len(xt), generator=generator)[
            rank * per_rank : (rank + 1) * per_rank
        ]
        order = order.to(device)
        total, seen = 0.0, 0
        for start in range(0, per_rank, settings.batch_size):
            batch = order[start : start + settings.batch_size]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(trained(xt[batch]), yt[batch])
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(batch)
            seen += len(batch)
        val_loss, val_accuracy = _evaluate(model, xv, yv, loss_fn, task)
        metrics = EpochMetrics(
            epoch, total / max(seen, 1), val_loss, val_accuracy, time.perf_counter() - started, seen
        )
        history.append(metrics)
        epochs.set_postfix(train_loss=f"{metrics.train_loss:.4f}", val_loss=f"{val_loss:.4f}")
        if val_loss < best_loss - settings.min_delta:
            best_loss, best_epoch, waited = val_loss, epoch, 0
            best_state = copy.deepcopy(model.state_dict())
            if checkpoint_dir is not None and rank == 0:
                _save_atomic(best_state, checkpoint_dir / "best.pt")
        else:
            waited += 1
        if on_epoch is not None and rank == 0:
            on_epoch(metrics)
        if waited >= settings.patience:
            stopped_early = True
            break
    epochs.close()
    model.load_state_dict(best_state)
    model.eval()
    return TrainResult(model.cpu(), best_epoch, best_loss, stopped_early, history)
