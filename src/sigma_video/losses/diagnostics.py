"""Collapse diagnostics: how many prototypes are used and how evenly; feature spread."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def prototype_usage(assignments: Tensor, num_prototypes: int) -> tuple[Tensor, Tensor]:
    """Entropy (nats) of the assignment histogram and the number of prototypes used.

    Args:
        assignments: ``(M,)`` prototype index per tube.

    Returns:
        ``(entropy, in_use)`` scalar tensors: entropy is ``log K`` for a uniform spread and 0
        when every tube has the same prototype; ``in_use`` counts prototypes with ≥ 1 tube.
    """
    counts = torch.bincount(assignments.flatten(), minlength=num_prototypes).float()
    p = counts / counts.sum().clamp_min(1.0)
    entropy = -(p * torch.log(p.clamp_min(1e-30))).sum()
    return entropy, (counts > 0).sum()


def feature_spread(features: Tensor) -> Tensor:
    """Mean over dimensions of the std across tubes of L2-normalised features, ``(..., D)``.

    Near 0 when all tubes map to the same direction (collapse); ≈ ``1/sqrt(D)`` for random
    directions.
    """
    with torch.no_grad():
        x = F.normalize(features.reshape(-1, features.shape[-1]).float(), dim=-1)
        return x.std(dim=0).mean()
