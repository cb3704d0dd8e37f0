"""Weighted k-nearest-neighbour classification on frozen features (the DINO protocol)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from sigma_video.evaluation.metrics import topk_accuracy
from sigma_video.evaluation.settings import KNN_KS, KNN_TEMPERATURE


def knn_scores(
    bank: Tensor,
    bank_labels: Tensor,
    queries: Tensor,
    k: int = max(KNN_KS),
    temperature: float = KNN_TEMPERATURE,
    num_classes: int | None = None,
    chunk: int = 1024,
) -> Tensor:
    """Class scores ``(Q, C)``: each query's ``k`` most cosine-similar bank items vote for
    their label with weight ``exp(similarity / temperature)``.

    Args:
        bank: ``(N, D)`` training features; bank_labels: ``(N,)``; queries: ``(Q, D)``.
    """
    if len(bank) == 0:
        raise ValueError("the kNN bank is empty")
    if k < 1 or temperature <= 0:
        raise ValueError(f"need k >= 1 and temperature > 0, got k={k}, T={temperature}")
    num_classes = num_classes or int(bank_labels.max()) + 1
    k = min(k, len(bank))
    bank = F.normalize(bank.float(), dim=1)
    out = []
    for start in range(0, len(queries), chunk):
        q = F.normalize(queries[start : start + chunk].float(), dim=1)
        sim, idx = (q @ bank.T).topk(k, dim=1)  # (q, k)
        votes = torch.zeros(len(q), num_classes).scatter_add_(
            1, bank_labels[idx], torch.exp(sim / temperature)
        )
        out.append(votes)
    return torch.cat(out)


def knn_accuracy(
    train_x: Tensor,
    train_y: Tensor,
    val_x: Tensor,
    val_y: Tensor,
    ks: tuple[int, ...] = KNN_KS,
    temperature: float = KNN_TEMPERATURE,
) -> dict[str, float | int]:
    """The kNN protocol on frozen features: the training set is the bank, each validation
    item is classified by ``knn_scores`` once per ``k``.

    Args:
        train_x: ``(N, D)`` bank features; train_y: ``(N,)`` labels ≥ 0;
        val_x: ``(Q, D)`` query features; val_y: ``(Q,)`` labels.

    Returns:
        ``num_train``, ``num_val`` and ``top1_k{k}`` (a fraction) for each ``k`` in ``ks``.
    """
    classes = int(max(train_y.max(), val_y.max())) + 1
    result: dict[str, float | int] = {"num_train": len(train_x), "num_val": len(val_x)}
    for k in ks:
        scores = knn_scores(train_x, train_y, val_x, k, temperature, num_classes=classes)
        result[f"top1_k{k}"] = topk_accuracy(scores, val_y, 1)
    return result
