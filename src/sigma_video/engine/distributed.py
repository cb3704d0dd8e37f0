"""The ranks of a run: ``torch.distributed`` set-up from ``torchrun``'s environment (NCCL on
GPU, gloo on CPU) and what the ranks do together: sums and means, loading on the main rank
first, their own RNG streams, the end-of-run check that they hold the same weights."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.tensor import DTensor

from sigma_video.engine.checkpoint import unwrap

T = TypeVar("T")


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


def main_rank_first(
    info: DistInfo, load: Callable[[Callable[[str], None]], T], log: Callable[[str], None]
) -> T:
    """``load(log)`` on the main rank first (it may generate the embedded dataset, and only
    it logs), then on the other ranks."""
    value = load(log) if info.is_main else None
    if info.enabled:
        dist.barrier()
        if value is None:
            value = load(lambda _: None)
    return value


def seed_ranks(seed: int, info: DistInfo, step: int) -> None:
    """Give ranks other than 0 their own global RNG stream (drop path, dropout), as
    VideoMAE's ``seed + rank``; rank 0 keeps its own (or its restored) state, so a
    single-process run resumes bit for bit."""
    if info.rank > 0:
        torch.manual_seed(seed + 1_000_003 * info.rank + step)


def ranks_in_sync(model: nn.Module, info: DistInfo) -> bool:
    """True if every rank holds the same weights (checked by a checksum all-reduce); of a
    model sharded with FSDP2, the weights every rank holds whole (its shards differ)."""
    if not info.enabled:
        return True
    whole = [p for p in unwrap(model).parameters() if not isinstance(p, DTensor)]
    with torch.no_grad():
        total = torch.stack([p.double().sum() for p in whole]).sum() if whole else torch.zeros(())
        total = total.to(next(unwrap(model).parameters()).device)
        high, low = total.clone(), total.clone()
        dist.all_reduce(high, op=dist.ReduceOp.MAX)
        dist.all_reduce(low, op=dist.ReduceOp.MIN)
    return bool(high == low)
