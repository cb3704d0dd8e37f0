"""Independent float64 reference implementations the tests compare against."""

from __future__ import annotations

import torch
from torch import Tensor


def textbook_sinkhorn(scores: Tensor, epsilon: float, iterations: int) -> Tensor:
    """SwAV's Sinkhorn-Knopp, literally, in float64: rescale the (K, N) matrix itself."""
    q = torch.exp(scores.double() / epsilon).T  # (K, N)
    k, n = q.shape
    q = q / q.sum()
    for _ in range(iterations):
        q = q / q.sum(dim=1, keepdim=True) / k
        q = q / q.sum(dim=0, keepdim=True) / n
    return (q * n).T  # (N, K), rows sum to one


def log_domain_sinkhorn(scores: Tensor, epsilon: float, iterations: int) -> Tensor:
    """The same iterations in float64 log space, for scores whose exp overflows float64."""
    log_q = scores.double().T / epsilon  # (K, N)
    k, n = log_q.shape
    log_q = log_q - torch.logsumexp(log_q.flatten(), 0)
    for _ in range(iterations):
        log_q = log_q - torch.logsumexp(log_q, dim=1, keepdim=True) - torch.log(torch.tensor(k))
        log_q = log_q - torch.logsumexp(log_q, dim=0, keepdim=True) - torch.log(torch.tensor(n))
    return torch.exp(log_q + torch.log(torch.tensor(n))).T


def official_pretraining_layout(ours: dict[str, Tensor]) -> dict[str, Tensor]:
    """Our pretrainer state dict written in the official SIGMA code's key names (written
    from the official ``modeling_pretrain`` layout, independently of ``sigma_video.io``)."""
    renamed = {
        "decoder.encoder_to_decoder.weight": "encoder_to_decoder.weight",
        "decoder.mask_token": "mask_token",
        "objective.prototypes.weight": "prototypes",
    }
    out = {}
    for key, value in ours.items():
        if key.startswith("target.mlp."):
            out["head." + key[len("target.mlp.") :]] = value
        else:
            out[renamed.get(key, key)] = value
    return out
