"""Evaluation metrics as pure functions."""

from __future__ import annotations

from torch import Tensor


def topk_accuracy(logits: Tensor, labels: Tensor, k: int = 1) -> float:
    """Share of rows whose label is among the ``k`` highest logits, ``(N, C), (N,)``.

    ``k`` larger than the number of classes counts every row as correct.
    """
    if logits.shape[0] == 0:
        raise ValueError("no samples to score")
    k = min(k, logits.shape[1])
    top = logits.topk(k, dim=1).indices  # (N, k)
    return (top == labels[:, None]).any(dim=1).float().mean().item()
