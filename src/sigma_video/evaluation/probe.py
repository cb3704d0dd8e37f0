"""Linear probe on frozen features: a norm (train-set standardisation) and a linear layer."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from sigma_video.evaluation.metrics import topk_accuracy


def linear_probe(
    train_x: Tensor,
    train_y: Tensor,
    val_x: Tensor,
    val_y: Tensor,
    epochs: int = 300,
    lr: float = 1e-2,
    weight_decay: float = 1e-4,
    seed: int = 0,
) -> dict[str, float]:
    """Fit a linear classifier on standardised features (full-batch AdamW, deterministic).

    Args:
        train_x, val_x: ``(N, D)`` features; train_y, val_y: ``(N,)`` labels ≥ 0.

    Returns:
        ``top1``, ``top5`` (fractions) on the validation set, ``num_train``, ``num_val``.
    """
    if len(train_x) == 0 or len(val_x) == 0:
        raise ValueError("the probe needs training and validation samples")
    if (train_y < 0).any() or (val_y < 0).any():
        raise ValueError("the probe needs labelled samples (labels >= 0)")
    num_classes = int(max(train_y.max(), val_y.max())) + 1
    mean, std = train_x.mean(0), train_x.std(0) + 1e-6
    xs, xv = (train_x - mean) / std, (val_x - mean) / std
    generator = torch.Generator().manual_seed(seed)
    weight = (torch.randn(num_classes, xs.shape[1], generator=generator) * 0.01).requires_grad_()
    bias = torch.zeros(num_classes, requires_grad=True)
    optimizer = torch.optim.AdamW([weight, bias], lr=lr, weight_decay=weight_decay)
    for _ in range(epochs):
        optimizer.zero_grad()
        F.cross_entropy(F.linear(xs, weight, bias), train_y).backward()
        optimizer.step()
    with torch.no_grad():
        logits = F.linear(xv, weight, bias)
    return {
        "top1": topk_accuracy(logits, val_y, 1),
        "top5": topk_accuracy(logits, val_y, 5),
        "num_train": len(train_x),
        "num_val": len(val_x),
    }
