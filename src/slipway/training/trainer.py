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
from slipway.errors import TrainingError
from slipway.state_files import write_atomic
from slipway.training.network import NetworkSpec, TabularMLP


@dataclass(frozen=True)
class EpochMetrics:
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
    model: TabularMLP
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


@torch.no_grad()
def _evaluate(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn: nn.Module
) -> tuple[float, float]:
    model.eval()
    logits = model(x)
    loss = float(loss_fn(logits, y))
    accuracy = float(((logits > 0).float() == y).float().mean())
    return loss, accuracy


def train(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    settings: TrainingSettings,
    *,
    device: torch.device | None = None,
    checkpoint_dir: Path | None = None,
    on_epoch: Callable[[EpochMetrics], None] | None = None,
) -> TrainResult:
    """Train a TabularMLP; returns it with the weights of its best validation epoch."""
    seed_everything(settings.seed)
    if settings.num_threads:
        torch.set_num_threads(settings.num_threads)
    device = device or torch.device("cpu")
    rank, world = _rank_world()

    spec = NetworkSpec(x_train.shape[1], tuple(settings.hidden_sizes), settings.dropout)
    model = TabularMLP(spec).to(device)
    trained: nn.Module = model
    if world > 1:
        trained = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    optimizer = torch.optim.AdamW(
        trained.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay
    )
    loss_fn = nn.BCEWithLogitsLoss()
    xt = torch.as_tensor(x_train, dtype=torch.float32, device=device)
    yt = torch.as_tensor(y_train, dtype=torch.float32, device=device)
    xv = torch.as_tensor(x_val, dtype=torch.float32, device=device)
    yv = torch.as_tensor(y_val, dtype=torch.float32, device=device)

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
        val_loss, val_accuracy = _evaluate(model, xv, yv, loss_fn)
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
