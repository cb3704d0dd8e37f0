"""``torch.distributed`` set-up from ``torchrun``'s environment (NCCL on GPU, gloo on CPU)."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_distributed(device_type: str) -> DistInfo:
    """Join the process group when launched by ``torchrun`` (``WORLD_SIZE`` > 1)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        backend = "nccl" if device_type == "cuda" else "gloo"
        if device_type == "cuda":
            torch.cuda.set_device(local)
        dist.init_process_group(backend)
    return DistInfo(rank, world, local)


def all_mean(value: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Mean of a tensor over ranks (for logging)."""
    if info.enabled:
        value = value.clone()
        dist.all_reduce(value)
        value /= info.world_size
    return value


def all_sum(value: int, info: DistInfo, device: torch.device) -> int:
    """A count summed over all ranks (the value itself on one process)."""
    if not info.enabled:
        return value
    total = torch.tensor(value, dtype=torch.int64, device=device)
    dist.all_reduce(total)
    return int(total)
