import numpy as np
import pytest

from sigma_video.evaluation.matching import (
    cell_confusion,
    cell_histogram,
    confusion,
    hungarian_from_counts,
    nearest_indices,
    overclustering_from_counts,
)
from sigma_video.evaluation.segmentation import upsample


def hungarian_miou(pred, gt, num_clusters, num_segments):
    """The clustering protocol on pixel maps ``(T, H, W)``."""
    return hungarian_from_counts(confusion(pred, gt, num_clusters, num_segments))


def overclustering_miou(pred, gt, num_clusters, num_segments):
    return overclustering_from_counts(confusion(pred, gt, num_clusters, num_segments))


def test_perfect_clustering_under_any_label_permutation():
    gt = np.array([[[0, 0, 1, 1], [0, 2, 2, 1]]])
    pred = np.array([[[2, 2, 0, 0], [2, 1, 1, 0]]])  # same partition, other names
    assert hungarian_miou(pred, gt, 3, 3) == pytest.approx(1.0)
    assert overclustering_miou(pred, gt, 3, 3) == pytest.approx(1.0)


def test_hand_computed_hungarian_case():
    gt = np.array([[[0, 0, 0, 1, 1, 1]]])
    pred = np.array([[[0, 0, 1, 1, 1, 1]]])
    # cluster 0 ~ segment 0: IoU 2/3; cluster 1 ~ segment 1: IoU 3/4
    assert hungarian_miou(pred, gt, 2, 2) == pytest.approx((2 / 3 + 3 / 4) / 2)
    assert confusion(pred, gt, 2, 2).tolist() == [[2, 0], [1, 3]]


def test_unmatched_clusters_become_background_and_overclustering_merges():
    gt = np.array([[[0, 0, 1, 1, 1, 1]]])
    pred = np.array([[[0, 0, 1, 1, 2, 2]]])  # 3 clusters, 2 segments
    # Hungarian: 0->0 (IoU 1), then 1 or 2 -> segment 1 (IoU 1/2); the other -> background:
    # segment 0 gets clusters {0, other}: IoU 2/4; segment 1: 2/4
    assert hungarian_miou(pred, gt, 3, 2) == pytest.approx(0.5)
    # many-to-one: both 1 and 2 go to segment 1 -> perfect
    assert overclustering_miou(pred, gt, 3, 2) == pytest.approx(1.0)


def test_shape_mismatch():
    with pytest.raises(ValueError, match="differ in shape"):
        confusion(np.zeros((1, 2, 2)), np.zeros((1, 2, 3)), 2, 2)


def test_cell_histogram_gives_the_full_resolution_confusion():
    rng = np.random.default_rng(0)
    grid, shape = (2, 3, 4), (5, 7, 9)  # uneven upsampling factors on purpose
    gt = rng.integers(0, 3, shape)
    histogram = cell_histogram(gt, grid, 3)
    assert histogram.shape == (24, 3) and histogram.sum() == gt.size
    for k in (2, 5):
        labels = rng.integers(0, k, grid)
        want = confusion(upsample(labels, shape), gt, k, 3)
        assert np.array_equal(cell_confusion(labels, histogram, k), want)
        assert hungarian_from_counts(want) == hungarian_miou(upsample(labels, shape), gt, k, 3)


def test_nearest_indices_by_hand():
    assert nearest_indices(5, 2).tolist() == [0, 0, 0, 1, 1]
    assert nearest_indices(4, 4).tolist() == [0, 1, 2, 3]
