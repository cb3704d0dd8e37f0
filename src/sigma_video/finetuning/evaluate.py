"""Multi-view testing of a fine-tuned model: the task pools each video's ``clips × crops``
views (mean softmax for classification, max/mean sigmoid for multi-label, mean count) and
scores the videos of all ranks (each rank predicts a disjoint share of the videos)."""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.utils.data import Subset

from sigma_video.data.eval_clips import EvalClips
from sigma_video.engine.distributed import DistInfo
from sigma_video.evaluation.inference import eval_autocast, view_batches
from sigma_video.finetuning.tasks import Task


@torch.no_grad()
def predict(
    model: nn.Module,
    dataset: EvalClips,
    device: torch.device,
    batch_size: int = 8,
    workers: int = 0,
    info: DistInfo | None = None,
    task: Task | None = None,
) -> tuple[Tensor, Tensor, int]:
    """``(scores (n, C), record indices (n,), unreadable)`` of this rank's videos (every
    ``world_size``-th from ``rank``); each row pools the video's views as ``task`` says
    (default: classification, the mean softmax). Videos that could not be decoded
    (``dataset.skip_bad``) are left out and counted."""
    info, task = info or DistInfo(), task or Task()
    views = dataset.num_clips * dataset.num_crops
    share = Subset(dataset, range(info.rank, len(dataset), info.world_size))
    was_training = model.training
    model.eval()
    scores, indices, unreadable = [], [], 0
    for video, _, bad, index in view_batches(share, views, device, batch_size, workers):
        with eval_autocast(device):
            logits = model(video).float()  # (B·views, C)
        pooled = task.pool(logits.view(-1, views, logits.shape[-1])).cpu()
        unreadable += int(bad.sum())
        scores.append(pooled[~bad])
        indices.append(index[~bad])
    model.train(was_training)
    if not scores:
        return torch.empty(0, 0), torch.empty(0, dtype=torch.long), unreadable
    return torch.cat(scores), torch.cat(indices), unreadable


def gather(scores: Tensor, indices: Tensor, unreadable: int, info: DistInfo) -> tuple:
    """Every rank's predictions on every rank (object all-gather: small, once per test)."""
    if not info.enabled:
        return scores, indices, unreadable
    parts: list = [None] * info.world_size
    dist.all_gather_object(parts, (scores, indices, unreadable))
    kept = [p for p in parts if len(p[1])]
    if not kept:
        return scores, indices, sum(p[2] for p in parts)
    return (
        torch.cat([p[0] for p in kept]),
        torch.cat([p[1] for p in kept]),
        sum(p[2] for p in parts),
    )


def evaluate(
    model: nn.Module,
    dataset: EvalClips,
    device: torch.device,
    batch_size: int = 8,
    workers: int = 0,
    info: DistInfo | None = None,
    task: Task | None = None,
    targets: Tensor | None = None,
) -> dict[str, float]:
    """The task's scores over the whole dataset and all ranks, with ``num`` (videos scored)
    and ``unreadable``: ``{"top1", "top5"}`` (%) for classification, ``{"map"}`` (%) for
    multi-label, ``{"mae", "obo"}`` for counting. ``targets``: the task's target table of
    ``dataset.records`` (default: built from them)."""
    info, task = info or DistInfo(), task or Task()
    found = predict(model, dataset, device, batch_size, workers, info, task)
    scores, indices, unreadable = gather(*found, info)
    if len(indices) == 0:
        raise ValueError(f"none of the {unreadable} evaluation videos could be decoded")
    if targets is None:
        targets = task.targets(dataset.records, scores.shape[1])
    result = task.score(scores, targets[indices])
    return {**result, "num": len(indices), "unreadable": unreadable}
