"""Frozen-encoder clip features: decode, centre-crop, normalise, encode, average-pool."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torch.utils.data import DataLoader

from sigma_video.data.annotations import VideoRecord
from sigma_video.data.collate import collate
from sigma_video.data.dataset import ClipConfig, EvalClips
from sigma_video.data.transforms import normalize
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
) -> tuple[Tensor, Tensor]:
    """``(features (N, D), labels (N,))``: the mean of all output tokens of each view,
    averaged over a video's ``num_clips × num_crops`` views. bf16 autocast on CUDA."""
    device = torch.device(device)
    encoder = encoder.eval().to(device)
    data = EvalClips(records, clip, num_clips=num_clips, num_crops=num_crops)
    loader = DataLoader(data, batch_size=batch_size, num_workers=workers, collate_fn=collate)
    views = num_clips * num_crops
    features, labels = [], []
    for batch in loader:
        video = normalize(batch["video"].to(device))
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            pooled = encoder.forward_pooled(video).float()  # (B·views, D)
        features.append(pooled.view(-1, views, pooled.shape[-1]).mean(1).cpu())
        labels.append(batch["label"].view(-1, views)[:, 0])
    return torch.cat(features), torch.cat(labels)
