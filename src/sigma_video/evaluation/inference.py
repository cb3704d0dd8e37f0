"""The frozen-inference loop every evaluation shares: multi-view clips through a
``DataLoader``, normalised on the device, under bf16 autocast on CUDA.

Progress is a bar only in a terminal; when stderr is a file or a pipe (a Slurm log) it is
a plain line every tenth of the batches (a bar there would be kilobytes of redraws)."""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Iterator

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from sigma_video.data.collate import collate
from sigma_video.data.transforms import normalize
from sigma_video.engine.stop import detach_worker


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
        worker_init_fn=detach_worker,  # signals to the group reach the main process only
    )
    for batch in with_progress(loader, progress):
        video = normalize(batch["video"].to(device, non_blocking=True))
        yield video, batch["label"].view(-1, views)[:, 0], batch["bad"], batch["index"]


def with_progress(batches: DataLoader, progress: bool, lines: int = 10) -> Iterator:
    """The batches, with a bar on a terminal's stderr, or ``lines`` plain lines
    (``evaluating: 30/300 batches (10%), 0m42s``) when stderr is a file or a pipe."""
    if not progress:
        yield from batches
    elif sys.stderr.isatty():
        yield from tqdm(batches, desc="evaluating", unit="batch", dynamic_ncols=True)
    else:
        total, started = len(batches), time.perf_counter()
        every = max(1, math.ceil(total / lines))
        for done, batch in enumerate(batches, start=1):
            yield batch
            if done % every == 0 or done == total:
                minutes, seconds = divmod(int(time.perf_counter() - started), 60)
                share = 100 * done // total
                line = f"evaluating: {done}/{total} batches ({share}%), {minutes}m{seconds:02d}s"
                print(line, file=sys.stderr, flush=True)
