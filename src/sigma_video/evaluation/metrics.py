"""Evaluation metrics as pure functions."""

from __future__ import annotations

from torch import Tensor


def topk_correct(logits: Tensor, labels: Tensor, k: int = 1) -> int:
    """Number of rows whose label is among the ``k`` highest logits, ``(N, C), (N,)``.

    ``k`` larger than the number of classes counts every row as correct.
    """
    k = min(k, logits.shape[1])
    top = logits.topk(k, dim=1).indices  # (N, k)
    return int((top == labels[:, None]).any(dim=1).sum())


def topk_accuracy(logits: Tensor, labels: Tensor, k: int = 1) -> float:
    """Share of rows whose label is among the ``k`` highest logits, ``(N, C), (N,)``."""
    if logits.shape[0] == 0:
        raise ValueError("no samples to score")
    return topk_correct(logits, labels, k) / logits.shape[0]
