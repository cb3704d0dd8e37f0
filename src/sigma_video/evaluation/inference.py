"""The frozen-inference loop every evaluation shares: multi-view clips through a
``DataLoader``, normalised on the device, under bf16 autocast on CUDA."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from sigma_video.data.collate import collate
from sigma_video.data.transforms import normalize


def eval_autocast(device: torch.device) -> torch.autocast:
    """bf16 autocast on CUDA; float32 elsewhere."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")


def view_batches(
    dataset: Dataset,
    views: int,
    device: torch.device,
    batch_size: int,
    workers: int,
    progress: bool = False,
) -> Iterator[tuple[Tensor, Tensor, Tensor, Tensor]]:
    """``(video (B·views, C, T, H, W) normalised on device, labels (B,), bad (B,), index
    (B,))`` per batch of B videos of an ``EvalClips``-like dataset with ``views`` clips per
    video (``index``: the videos' positions in the dataset's records). The loader has its
    own generator, so the global RNG (drop path, dropout) is left alone."""
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        num_workers=workers,
        collate_fn=collate,
        generator=torch.Generator(),
    )
    for batch in tqdm(loader, desc="evaluating", unit="batch", disable=not progress):
        video = normalize(batch["video"].to(device, non_blocking=True))
        yield video, batch["label"].view(-1, views)[:, 0], batch["bad"], batch["index"]
