"""Multi-view testing of a classifier: softmax averaged over ``clips × crops`` views per
video, top-1/top-5 over all ranks (each rank scores a disjoint share of the videos)."""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.utils.data import Subset

from sigma_video.data.dataset import EvalClips
from sigma_video.engine.distributed import DistInfo
from sigma_video.evaluation.inference import eval_autocast, view_batches
from sigma_video.evaluation.metrics import topk_correct


@torch.no_grad()
def predict(
    model: nn.Module,
    dataset: EvalClips,
    device: torch.device,
    batch_size: int = 8,
    workers: int = 0,
    info: DistInfo | None = None,
) -> tuple[Tensor, Tensor, int]:
    """``(probabilities (n, C), labels (n,), unreadable)`` of this rank's videos (every
    ``world_size``-th from ``rank``); each row is the mean softmax of the video's views.
    Videos that could not be decoded (``dataset.skip_bad``) are left out and counted."""
    info = info or DistInfo()
    views = dataset.num_clips * dataset.num_crops
    share = Subset(dataset, range(info.rank, len(dataset), info.world_size))
    was_training = model.training
    model.eval()
    probs, labels, unreadable = [], [], 0
    for video, label, bad in view_batches(share, views, device, batch_size, workers):
        with eval_autocast(device):
            logits = model(video).float()  # (B·views, C)
        p = logits.softmax(-1).view(-1, views, logits.shape[-1]).mean(1).cpu()
        unreadable += int(bad.sum())
        probs.append(p[~bad])
        labels.append(label[~bad])
    model.train(was_training)
    if not probs:
        return torch.empty(0, 0), torch.empty(0, dtype=torch.long), unreadable
    return torch.cat(probs), torch.cat(labels), unreadable


def evaluate(
    model: nn.Module,
    dataset: EvalClips,
    device: torch.device,
    batch_size: int = 8,
    workers: int = 0,
    info: DistInfo | None = None,
) -> dict[str, float]:
    """``{"top1", "top5", "num", "unreadable"}`` (accuracies in % of the ``num`` videos
    scored) over the whole dataset and all ranks."""
    info = info or DistInfo()
    probs, labels, unreadable = predict(model, dataset, device, batch_size, workers, info)
    counts = torch.tensor([0.0, 0.0, 0.0, float(unreadable)], dtype=torch.float64)
    if len(labels):
        counts[:3] += torch.tensor(
            [topk_correct(probs, labels, 1), topk_correct(probs, labels, 5), len(labels)],
            dtype=torch.float64,
        )
    if info.enabled:
        counts = counts.to(device)
        dist.all_reduce(counts)
        counts = counts.cpu()
    top1, top5, num, bad = counts.tolist()
    if num == 0:
        raise ValueError(f"none of the {int(bad)} evaluation videos could be decoded")
    return {
        "top1": 100.0 * top1 / num,
        "top5": 100.0 * top5 / num,
        "num": int(num),
        "unreadable": int(bad),
    }
