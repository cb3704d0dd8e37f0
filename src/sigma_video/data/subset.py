"""Low-shot training subsets (SEVERE's sample-efficiency columns), reproducible from a seed."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from sigma_video.data.annotations import VideoRecord

SEVERE_SEED = 99999  # the seed of SEVERE's ``get_subset_data``


def subset_records(
    records: Sequence[VideoRecord], size: int, seed: int = SEVERE_SEED
) -> list[VideoRecord]:
    """SEVERE's rule: ``ceil(size / classes)`` videos of every class (all of a smaller
    class), drawn without replacement by ``numpy.random.RandomState(seed)``, classes in
    ascending order, so the same list and seed give SEVERE's subset (UCF101 split 1, 1 000:
    10 per class, 1 010 videos). ``size`` larger than the list is refused."""
    if size > len(records):
        raise ValueError(f"data.subset {size} is larger than the training list ({len(records)})")
    labels = np.array([r.label for r in records])
    if (labels < 0).any():
        raise ValueError("data.subset needs a labelled training list (per-class sampling)")
    classes = sorted(set(labels.tolist()))
    per_class = math.ceil(size / len(classes))
    state = np.random.RandomState(seed)
    chosen: list[VideoRecord] = []
    for label in classes:
        members = np.flatnonzero(labels == label)
        picks = state.choice(len(members), min(per_class, len(members)), replace=False)
        chosen += [records[i] for i in members[picks]]
    return chosen


def label_range_records(records: Sequence[VideoRecord], first: int, last: int) -> list[VideoRecord]:
    """The records labelled ``first..last``, relabelled ``label − first`` (FineGym's
    element sets within Gym99: FX-S1 = 6–16, UB-S1 = 74–88)."""
    kept = [replace(r, label=r.label - first) for r in records if first <= r.label <= last]
    if not kept:
        raise ValueError(f"data.label_range {first},{last}: no video has such a label")
    return kept


def subset_text(records: Sequence[VideoRecord]) -> str:
    """``path label`` lines (absolute paths as read), a list any command reads back."""
    return "".join(f"{r.path} {r.label}\n" for r in records)
