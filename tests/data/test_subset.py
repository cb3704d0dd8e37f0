"""SEVERE's low-shot subsets and FineGym's label ranges."""

import math

import numpy as np
import pytest

from sigma_video.data.annotations import VideoRecord
from sigma_video.data.subset import SEVERE_SEED, label_range_records, subset_records


def severe_reference(labels, size, seed):
    """SEVERE's ``get_subset_data`` as its code reads (per class in ascending order, numpy
    RandomState choice without replacement), returning the chosen positions."""
    labels = np.array(labels)
    per_class = math.ceil(size / len(set(labels.tolist())))
    state = np.random.RandomState(seed)
    chosen = []
    for label in sorted(set(labels.tolist())):
        where = np.where(labels == label)[0]
        take = min(per_class, len(where))
        chosen += list(where[state.choice(len(where), take, replace=False)])
    return chosen


def test_subset_follows_severes_rule():
    labels = [i % 3 for i in range(30)] + [3, 3]  # class 3 has only 2 videos
    records = [VideoRecord(f"v{i}.mp4", label) for i, label in enumerate(labels)]
    subset = subset_records(records, 13)  # ceil(13 / 4) = 4 per class, 2 of class 3
    counts = np.bincount([r.label for r in subset])
    assert counts.tolist() == [4, 4, 4, 2]
    expected = [records[i] for i in severe_reference(labels, 13, SEVERE_SEED)]
    assert subset == expected
    assert subset_records(records, 13) == subset  # reproducible from the seed
    assert subset_records(records, 13, seed=1) != subset
    with pytest.raises(ValueError, match="larger than the training list"):
        subset_records(records, 33)
    with pytest.raises(ValueError, match="labelled"):
        subset_records([VideoRecord("a.mp4")], 1)


def test_label_range_keeps_and_renumbers():
    records = [VideoRecord(f"v{i}", label) for i, label in enumerate([5, 6, 16, 17, 10])]
    kept = label_range_records(records, 6, 16)
    assert [(r.path, r.label) for r in kept] == [("v1", 0), ("v2", 10), ("v4", 4)]
    with pytest.raises(ValueError, match="no video has such a label"):
        label_range_records(records, 40, 50)
