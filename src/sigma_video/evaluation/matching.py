"""Matching cluster maps to ground-truth segments, and mIoU (pure functions).

``pred`` holds cluster ids ``0..K-1`` and ``gt`` segment ids ``0..G-1`` (0 = background),
both ``(T, H, W)`` integer arrays of the same shape.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment


def confusion(pred: np.ndarray, gt: np.ndarray, num_clusters: int, num_segments: int) -> np.ndarray:
    """``(K, G)`` pixel counts of cluster k on segment g."""
    if pred.shape != gt.shape:
        raise ValueError(f"prediction {pred.shape} and ground truth {gt.shape} differ in shape")
    flat = pred.astype(np.int64).ravel() * num_segments + gt.astype(np.int64).ravel()
    return np.bincount(flat, minlength=num_clusters * num_segments).reshape(
        num_clusters, num_segments
    )


def iou_per_segment(merged: np.ndarray) -> np.ndarray:
    """IoU of each segment with its assigned prediction, from a ``(G, G)`` confusion matrix
    whose row g collects the clusters mapped to segment g."""
    tp = np.diag(merged).astype(float)
    union = merged.sum(0) + merged.sum(1) - tp
    return np.divide(tp, union, out=np.zeros_like(tp), where=union > 0)


def hungarian_from_counts(counts: np.ndarray) -> float:
    """Clustering protocol, from a ``(K, G)`` confusion matrix: one-to-one Hungarian
    matching of clusters to segments on 1 − IoU; clusters left unmatched count as
    background (segment 0). Mean IoU over segments."""
    tp = counts.astype(float)
    union = counts.sum(1, keepdims=True) + counts.sum(0, keepdims=True) - tp
    iou = np.divide(tp, union, out=np.zeros_like(tp), where=union > 0)  # (K, G)
    rows, cols = linear_sum_assignment(1.0 - iou)
    target = np.zeros(counts.shape[0], dtype=np.int64)  # unmatched -> background
    target[rows] = cols
    return float(iou_per_segment(_merge(counts, target, counts.shape[1])).mean())


def overclustering_from_counts(counts: np.ndarray) -> float:
    """Over-clustering protocol, from a ``(K, G)`` confusion matrix: each cluster goes to
    the segment it is most precise for (greedy many-to-one), then mean IoU over segments."""
    return float(iou_per_segment(_merge(counts, counts.argmax(1), counts.shape[1])).mean())


def nearest_indices(out_len: int, in_len: int) -> np.ndarray:
    """Source index of each output position under nearest-neighbour upsampling."""
    return np.minimum((np.arange(out_len) * in_len) // out_len, in_len - 1)


def cell_histogram(gt: np.ndarray, grid: tuple[int, int, int], num_segments: int) -> np.ndarray:
    """``(t·h·w, G)`` pixel counts of each segment inside each cell of a ``(t, h, w)`` grid
    that is nearest-neighbour upsampled to ``gt``'s ``(T, H, W)``. With it, the confusion
    of any cluster map on that grid costs ``O(cells)`` instead of a pass over all pixels:
    ``confusion(upsample(labels), gt) == cell_confusion(labels, cell_histogram(gt))``."""
    t, h, w = grid
    tt, hh, ww = (nearest_indices(n, m) for n, m in zip(gt.shape, grid, strict=True))
    cell = (tt[:, None, None] * (h * w) + hh[None, :, None] * w + ww[None, None, :]).astype(
        np.int64
    )
    flat = (cell * num_segments + gt.astype(np.int64)).ravel()
    return np.bincount(flat, minlength=t * h * w * num_segments).reshape(-1, num_segments)


def cell_confusion(labels: np.ndarray, histogram: np.ndarray, num_clusters: int) -> np.ndarray:
    """``(K, G)`` confusion of a cluster map on the grid (``labels``, any shape with
    ``t·h·w`` entries) from ``cell_histogram``."""
    counts = np.zeros((num_clusters, histogram.shape[1]), dtype=np.int64)
    np.add.at(counts, labels.ravel(), histogram)
    return counts


def _merge(counts: np.ndarray, target: np.ndarray, num_segments: int) -> np.ndarray:
    merged = np.zeros((num_segments, num_segments), dtype=np.int64)
    np.add.at(merged, target, counts)
    return merged
