"""Frozen-encoder clip features: decode, centre-crop, normalise, encode, average-pool."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from sigma_video.data.annotations import VideoRecord
from sigma_video.data.dataset import ClipConfig
from sigma_video.data.eval_clips import EvalClips
from sigma_video.evaluation.inference import eval_autocast, view_batches
from sigma_video.models.encoder import VideoEncoder


@torch.no_grad()
def extract_features(
    encoder: VideoEncoder,
    records: Sequence[VideoRecord],
    clip: ClipConfig,
    num_clips: int = 1,
    num_crops: int = 1,
    batch_size: int = 16,
    workers: int = 0,
    device: torch.device | str = "cpu",
    grid: bool = False,
    progress: bool = False,
) -> tuple[Tensor, ...]:
    """``(features (N, D), labels (N,))``: the mean of all output tokens of each view,
    averaged over a video's ``num_clips × num_crops`` views. bf16 autocast on CUDA.

    With ``grid`` a third tensor ``(N, T', H', W', D)`` holds the per-tube features (after
    the final norm), also averaged over the views.
    """
    device = torch.device(device)
    encoder = encoder.eval().to(device)
    data = EvalClips(records, clip, num_clips=num_clips, num_crops=num_crops)
    views = num_clips * num_crops
    features, labels, grids = [], [], []
    for video, label, *_ in view_batches(data, views, device, batch_size, workers, progress):
        with eval_autocast(device):
            tokens = encoder.forward_features(video)  # (B·views, N, D)
            pooled = encoder.pool(tokens).float()
        features.append(pooled.view(-1, views, pooled.shape[-1]).mean(1).cpu())
        labels.append(label)
        if grid:
            shape = (-1, views, *encoder.grid_of(video), tokens.shape[-1])
            grids.append(tokens.float().view(shape).mean(1).cpu())
    out = (torch.cat(features), torch.cat(labels))
    return (*out, torch.cat(grids)) if grid else out
