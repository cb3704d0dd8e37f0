"""Sinkhorn-Knopp equipartition of tubes over prototypes (SwAV / SIGMA Eq. 3-4).

The textbook algorithm scales ``Q = exp(scores / ε)`` alternately so that every prototype
receives ``1/K`` of the mass and every row (tube) ``1/N``; the codes are the final matrix
with its rows rescaled to sum to one. We run exactly those iterations, but in the log
domain: ``Q = exp(scores/ε + a_k + b_n)`` with the scalings ``a`` (per prototype) and ``b``
(per row) updated by log-sum-exp. This is the same sequence of matrices as the textbook
algorithm in exact arithmetic, and it cannot overflow or underflow a whole row or column,
whatever ε and the range of the scores.

When ``torch.distributed`` is initialised the rows of all ranks form one problem: the
per-prototype sums are all-reduced, so N processes produce exactly the codes one process
produces on the concatenated rows.
"""

from __future__ import annotations

import math

import torch
import torch.distributed as dist
from torch import Tensor


def sinkhorn_knopp(
    scores: Tensor,
    epsilon: float = 0.05,
    iterations: int = 10,
    *,
    group: dist.ProcessGroup | None = None,
    distributed: bool | None = None,
) -> Tensor:
    """Soft equipartitioned assignments of rows to prototypes.

    Args:
        scores: ``(N, K)`` similarities of N tubes (this rank's rows) to K prototypes.
        epsilon: entropy regularisation ε > 0; smaller is sharper (reference: 0.05, 0.03).
        iterations: number of (prototype, row) normalisation rounds, ≥ 1.
        group: process group whose ranks' rows form one problem (default: the world).
        distributed: force (True) or disable (False) the cross-rank reduction; by default
            it is used when ``torch.distributed`` is initialised.

    Returns:
        ``(N, K)`` float32 codes without gradient: each row sums to 1 and each prototype
        column sums to ≈ N_total / K (exactly so after infinitely many iterations).
    """
    if scores.ndim != 2:
        raise ValueError(f"scores must be 2-D (N, K), got shape {tuple(scores.shape)}")
    num_prototypes = scores.shape[1]
    if num_prototypes < 2:
        raise ValueError(f"scores must have K >= 2 prototype columns, got K={num_prototypes}")
    if not epsilon > 0 or not math.isfinite(epsilon):
        raise ValueError(f"epsilon must be a finite number > 0, got {epsilon}")
    if iterations < 1:
        raise ValueError(f"iterations must be >= 1, got {iterations}")
    if distributed is None:
        distributed = dist.is_available() and dist.is_initialized()

    with torch.no_grad(), torch.autocast(scores.device.type, enabled=False):
        logits = scores.detach().float() / epsilon  # (N, K): log of exp(scores/ε)
        # The targets 1/K (prototype mass) and 1/N (row mass) only add constants to the log
        # scalings, which the next normalisation absorbs; they are left out.
        row_scale = torch.zeros(logits.shape[0], 1, device=logits.device)  # b_n, (N, 1)
        for step in range(iterations):
            # Equal mass per prototype, summed over all ranks' rows: a_k, (1, K).
            col_scale = -_column_logsumexp(logits + row_scale, group, distributed)
            if step < iterations - 1:
                # Equal mass per row: b_n.
                row_scale = -torch.logsumexp(logits + col_scale, dim=1, keepdim=True)
        # The last row normalisation (the textbook's final `Q /= Q.sum(rows); Q *= N`) is a
        # softmax over the prototypes: rows sum to one exactly.
        return torch.softmax(logits + col_scale, dim=1)


def _column_logsumexp(x: Tensor, group: dist.ProcessGroup | None, distributed: bool) -> Tensor:
    """``log Σ_n exp(x[n, k])`` over the rows of all ranks, ``(N, K) -> (1, K)``."""
    if not distributed:
        return torch.logsumexp(x, dim=0, keepdim=True)
    peak = x.amax(dim=0, keepdim=True) if x.shape[0] else torch.full_like(x[:1], -torch.inf)
    dist.all_reduce(peak, op=dist.ReduceOp.MAX, group=group)
    peak = torch.where(torch.isfinite(peak), peak, torch.zeros_like(peak))
    total = torch.exp(x - peak).sum(dim=0, keepdim=True)
    dist.all_reduce(total, group=group)
    return torch.log(total) + peak
