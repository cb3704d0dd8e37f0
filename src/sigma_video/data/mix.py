"""Several sources mixed by weight (``data.sources``), as V-JEPA 2 mixes K710, SSv2 and
HowTo100M: one epoch of ``L = Σ N_s`` samples, of which source ``s`` fills
``n_s ≈ w_s · L`` slots (largest remainders make them sum to ``L``).

Slot ``j`` of source ``s`` in epoch ``e`` is the source's sample ``order_s[(e·n_s + j) mod
N_s]``, ``order_s`` a permutation fixed by the seed: a down-weighted source shows the next
``n_s`` of its samples each epoch (all of them every ``N_s / n_s`` epochs), an up-weighted
one repeats its samples ``n_s / N_s`` times. The run's sampler then shuffles the slots as
it shuffles any dataset, so a sample is still a pure function of ``(seed, epoch, index)``
and mid-epoch resume is exact.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from sigma_video.data.annotations import VideoRecord


@dataclass
class Source:
    """One source of a mix (``[[data.sources]]``)."""

    path: str
    """annotation list, folder or shards of the source"""
    weight: float = 1.0
    """its share of each epoch's samples, relative to the other sources' weights"""

    def __post_init__(self) -> None:
        if not self.weight > 0:
            raise ValueError(f"data.sources: weight of {self.path} must be > 0, got {self.weight}")


def slot_counts(sizes: Sequence[int], weights: Sequence[float]) -> list[int]:
    """Slots per source in an epoch of ``sum(sizes)``: ``w_s / Σw · L`` rounded down, the
    remaining slots to the largest remainders (ties: the earlier source)."""
    if not sizes or len(sizes) != len(weights) or min(sizes) < 1:
        raise ValueError("every source needs at least one sample and a weight")
    total, mass = sum(sizes), sum(weights)
    exact = [w / mass * total for w in weights]
    counts = [int(x) for x in exact]
    by_remainder = sorted(range(len(sizes)), key=lambda s: (-(exact[s] - counts[s]), s))
    for s in by_remainder[: total - sum(counts)]:
        counts[s] += 1
    return counts


class MixedRecords(Sequence[VideoRecord]):
    """The records of an epoch of several sources mixed by weight; ``at(index, epoch)`` is
    the record in slot ``index`` of ``epoch`` (``[index]``: epoch 0)."""

    def __init__(
        self,
        sources: Sequence[Sequence[VideoRecord]],
        weights: Sequence[float],
        seed: int,
        names: Sequence[str] | None = None,
    ) -> None:
        self.sources = list(sources)
        self.weights = list(weights)
        self.names = list(names) if names is not None else [str(i) for i in range(len(sources))]
        self.slots = slot_counts([len(s) for s in self.sources], self.weights)
        self.starts = [0]
        for count in self.slots:
            self.starts.append(self.starts[-1] + count)
        self.orders = [
            torch.randperm(len(s), generator=torch.Generator().manual_seed(seed * 7919 + i))
            for i, s in enumerate(self.sources)
        ]

    def __len__(self) -> int:
        return self.starts[-1]

    def locate(self, index: int, epoch: int) -> tuple[int, int]:
        """``(source, sample of that source)`` in slot ``index`` of ``epoch``."""
        if not 0 <= index < len(self):
            raise IndexError(index)
        source = bisect.bisect_right(self.starts, index) - 1
        slot = index - self.starts[source]
        size = len(self.sources[source])
        position = (epoch * self.slots[source] + slot) % size
        return source, int(self.orders[source][position])

    def at(self, index: int, epoch: int) -> VideoRecord:
        source, sample = self.locate(index, epoch)
        return self.sources[source][sample]

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [self.at(i, 0) for i in range(*index.indices(len(self)))]
        return self.at(index if index >= 0 else index + len(self), 0)

    def summary(self) -> dict[str, dict[str, float | int]]:
        """Per source: its weight, samples and slots per epoch (its passes per epoch)."""
        return {
            name: {
                "weight": weight,
                "videos": len(source),
                "per_epoch": slots,
                "passes_per_epoch": round(slots / len(source), 3),
            }
            for name, weight, source, slots in zip(
                self.names, self.weights, self.sources, self.slots, strict=True
            )
        }


def record_at(records: Sequence[VideoRecord], index: int, epoch: int) -> VideoRecord:
    """The record in slot ``index`` of ``epoch``: a mix's epoch-dependent slot, or simply
    ``records[index]``."""
    return records.at(index, epoch) if isinstance(records, MixedRecords) else records[index]
