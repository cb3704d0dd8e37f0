import numpy as np
import pytest

from sigma_video.evaluation.matching import confusion, hungarian_miou, overclustering_miou


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
