"""The order of samples: a pure function of (seed, epoch), sliced per rank, resumable."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler


def epoch_order(num_samples: int, seed: int, epoch: int) -> list[int]:
    """A permutation of ``range(num_samples)`` fixed by ``(seed, epoch)``."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(num_samples, generator=generator).tolist()


class EpochSampler(Sampler):
    """Yields ``(index, epoch)`` keys for one rank's share of one epoch.

    The epoch's order is cut into global batches of ``batch_size · world_size`` samples
    (a ragged tail is dropped so every rank takes the same number of steps); rank ``r`` takes
    the ``r``-th slice of each global batch. ``start_batch`` skips the first batches without
    loading them (mid-epoch resume); ``max_batches`` caps the epoch (whole accumulation
    windows only). The union of all ranks' batches equals one process
    running with the global batch size.
    """

    def __init__(
        self,
        num_samples: int,
        batch_size: int,
        seed: int,
        epoch: int,
        rank: int = 0,
        world_size: int = 1,
        start_batch: int = 0,
        max_batches: int | None = None,
    ) -> None:
        self.num_samples, self.batch_size = num_samples, batch_size
        self.seed, self.epoch = seed, epoch
        self.rank, self.world_size, self.start_batch = rank, world_size, start_batch
        self.max_batches = max_batches

    def batches_per_epoch(self) -> int:
        full = self.num_samples // (self.batch_size * self.world_size)
        return full if self.max_batches is None else min(full, self.max_batches)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        order = epoch_order(self.num_samples, self.seed, self.epoch)
        step = self.batch_size * self.world_size
        for b in range(self.start_batch, self.batches_per_epoch()):
            first = b * step + self.rank * self.batch_size
            for index in order[first : first + self.batch_size]:
                yield index, self.epoch

    def __len__(self) -> int:
        return (self.batches_per_epoch() - self.start_batch) * self.batch_size


class RunSampler(Sampler):
    """The ``EpochSampler`` keys of several epochs in a row, so one ``DataLoader`` (and its
    workers) serves the whole run. Starts at global micro-batch ``start`` (resume)."""

    def __init__(
        self,
        num_samples: int,
        batch_size: int,
        seed: int,
        batches_per_epoch: int,
        epochs: int,
        rank: int = 0,
        world_size: int = 1,
        start: int = 0,
    ) -> None:
        self.args = (num_samples, batch_size, seed)
        self.per_epoch, self.epochs, self.start = batches_per_epoch, epochs, start
        self.rank, self.world_size = rank, world_size

    def __iter__(self) -> Iterator[tuple[int, int]]:
        first_epoch, offset = divmod(self.start, self.per_epoch)
        for epoch in range(first_epoch, self.epochs):
            yield from EpochSampler(
                *self.args,
                epoch,
                self.rank,
                self.world_size,
                start_batch=offset if epoch == first_epoch else 0,
                max_batches=self.per_epoch,
            )

    def __len__(self) -> int:
        return (self.epochs * self.per_epoch - self.start) * self.args[1]
