"""Speed of the evaluation protocols beyond feature extraction (``sigma-video bench
probe|segment``): the linear probe and kNN on cached features, and one clip's
segmentation (standardise, PCA, k-means, upsampling, both matchings)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from sigma_video.bench.timing import device_name
from sigma_video.evaluation.knn import knn_accuracy
from sigma_video.evaluation.probe import linear_probe
from sigma_video.evaluation.protocol import percent
from sigma_video.evaluation.segmentation import match_clusters, reduce_tubes, upsample
from sigma_video.evaluation.settings import KNN_KS, SegmentConfig


def _clustered(count: int, dim: int, classes: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Features around one random centre per class (so the probe has something to learn)."""
    generator = torch.Generator().manual_seed(seed)
    centres = torch.randn(classes, dim, generator=torch.Generator().manual_seed(0))
    labels = torch.randint(classes, (count,), generator=generator)
    return centres[labels] + 3 * torch.randn(count, dim, generator=generator), labels


def bench_probe(
    num_train: int = 10_000, num_val: int = 2_000, dim: int = 768, classes: int = 400
) -> dict[str, Any]:
    """Seconds (wall and CPU) of a linear probe and a kNN (each k of ``KNN_KS``) on cached
    features."""
    train_x, train_y = _clustered(num_train, dim, classes, 1)
    val_x, val_y = _clustered(num_val, dim, classes, 2)
    wall, cpu = time.perf_counter(), time.process_time()
    probe = linear_probe(train_x, train_y, val_x, val_y)
    probe_s, probe_cpu = time.perf_counter() - wall, time.process_time() - cpu
    wall = time.perf_counter()
    knn_accuracy(train_x, train_y, val_x, val_y, KNN_KS)
    return {
        "bench": "probe",
        "device": device_name(torch.device("cpu")),
        "num_train": num_train,
        "num_val": num_val,
        "dim": dim,
        "classes": classes,
        "probe_s": round(probe_s, 3),
        "probe_cpu_s": round(probe_cpu, 3),
        "probe_top1": percent(probe["top1"]),  # %, as the evaluation commands print
        "knn_s": round(time.perf_counter() - wall, 3),
    }


def bench_segment(
    frames: int = 16,
    height: int = 480,
    width: int = 854,
    grid: tuple[int, int, int] = (8, 14, 14),
    dim: int = 768,
    segments: int = 4,
    repeats: int = 3,
) -> dict[str, Any]:
    """CPU seconds per clip of everything after the encoder (DAVIS 480p, ViT-B tubes)."""
    rng = np.random.default_rng(0)
    config = SegmentConfig()
    # tube features with a few object groups, and a matching ground truth at frame size
    tube_ids = rng.integers(0, segments, grid)
    centres = rng.normal(0, 1, (segments, dim)).astype(np.float32)
    features = centres[tube_ids] + rng.normal(0, 1, (*grid, dim)).astype(np.float32)
    gt = upsample(tube_ids, (frames, height, width)).astype(np.uint8)
    times, cpu_times = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        match_clusters(reduce_tubes(features, config), grid, gt, config)
        times.append(time.perf_counter() - wall)
        cpu_times.append(time.process_time() - cpu)
    return {
        "bench": "segment",
        "device": device_name(torch.device("cpu")),
        "clip": [frames, height, width],
        "tubes": int(np.prod(grid)),
        "dim": dim,
        "per_clip_s": round(min(times), 3),
        "per_clip_cpu_s": round(min(cpu_times), 3),
    }
