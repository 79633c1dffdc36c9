"""torchrun support: join the process group that torchrun describes in the environment.

Under ``torchrun --nproc-per-node N`` every process runs the same step; this module joins
them (gloo on CPU, nccl on GPU) so training.train can wrap the network in DDP, and tells
the caller its rank so that only rank 0 talks to MLflow.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def init_from_env() -> tuple[int, int]:
    """(rank, world size); joins the process group when torchrun started several processes."""
    world = world_size()
    if world <= 1:
        return 0, 1
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend=backend)
    return dist.get_rank(), dist.get_world_size()


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
