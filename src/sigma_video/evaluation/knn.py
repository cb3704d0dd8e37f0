"""Weighted k-nearest-neighbour classification on frozen features (the DINO protocol)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def knn_scores(
    bank: Tensor,
    bank_labels: Tensor,
    queries: Tensor,
    k: int = 200,
    temperature: float = 0.07,
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
