"""Sinkhorn-Knopp equipartition of tubes over prototypes (SwAV / SIGMA Eq. 3-4).

The textbook algorithm rescales ``Q = exp(scores / ε)`` alternately so that every prototype
receives ``1/K`` of the mass and every row (tube) ``1/N``; the codes are the final matrix
with its rows rescaled to sum to one. We run exactly those iterations, keeping the matrix
fixed and the two scalings as vectors in log space (``Q = exp(scores/ε + a_k + b_n)``), so
the result is the textbook one in exact arithmetic while nothing overflows:

- fast path: ``E = exp(scores/ε - rowmax)`` is made once, in place; each round is two
  matrix-vector products with max-shifted scalings. One ``(N, K)`` float32 buffer in all.
- fallback: if a row or column sum gets so small that float32 subnormals would cost
  precision (a logit spread beyond ~87, e.g. cosine scores at ε ≤ 0.02 or scores far
  outside [-1, 1]), the same rounds run with log-sum-exp over the matrix — slower, exact,
  never inf or NaN.

When ``torch.distributed`` is initialised the rows of all ranks form one problem: the
per-prototype sums are all-reduced, so N processes produce the codes one process produces
on the concatenated rows (up to float32 summation order).
"""

from __future__ import annotations

import math

import torch
import torch.distributed as dist
from torch import Tensor


def check_sinkhorn_options(epsilon: float, iterations: int) -> None:
    """Raise ValueError for ε outside (0, ∞) or fewer than one iteration."""
    if not epsilon > 0 or not math.isfinite(epsilon):
        raise ValueError(f"sinkhorn epsilon must be a finite number > 0, got {epsilon}")
    if iterations < 1:
        raise ValueError(f"sinkhorn iterations must be >= 1, got {iterations}")


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
    if scores.shape[1] < 2:
        raise ValueError(f"scores must have K >= 2 prototype columns, got K={scores.shape[1]}")
    check_sinkhorn_options(epsilon, iterations)
    if distributed is None:
        distributed = dist.is_available() and dist.is_initialized()
    group = group if distributed else None

    with torch.no_grad(), torch.autocast(scores.device.type, enabled=False):
        codes, ok = _scaled(scores.detach().float() / epsilon, iterations, distributed, group)
        if not _agree(ok, distributed, group):  # one host sync per call
            codes = _log_domain(scores.detach().float() / epsilon, iterations, distributed, group)
        return codes


# The targets 1/K (prototype mass) and 1/N (row mass) only add constants to the log
# scalings, which the next normalisation absorbs; both paths leave them out.


def _scaled(
    logits: Tensor, iterations: int, distributed: bool, group: dist.ProcessGroup | None
) -> tuple[Tensor, Tensor]:
    """Fast path. ``logits`` (N, K) is consumed: it becomes the returned codes.

    Also returns a bool scalar tensor, False when a column or row sum fell below
    ``_TRUSTED`` (2^-100): then float32 subnormals would have cost precision, or a sum
    under/overflowed, and the caller takes the log-domain path.
    """
    ok = torch.ones((), dtype=torch.bool, device=logits.device)
    row_max = logits.amax(dim=1) if logits.shape[0] else logits.new_zeros(0)  # (N,)
    e = logits.sub_(row_max[:, None]).exp_()  # (N, K), each row's largest entry is 1
    # w_n = row_max_n + b_n: the row scaling including the factored-out maximum.
    w = row_max
    for step in range(iterations):
        # a_k = -log Σ_n E_nk exp(w_n), shifted by W = max_n w_n (over all ranks).
        top = _global_max(w, distributed, group)
        col = torch.mv(e.T, torch.exp(w - top))  # (K,)
        if distributed:
            dist.all_reduce(col, group=group)
        ok &= _trusted(col)
        a = -(torch.log(col) + top)
        # b_n = -log Σ_k exp(logits_nk + a_k); with the row max folded in this is w_n.
        shift = a.max()
        scale = torch.exp(a - shift)  # (K,), entries in [0, 1] when finite
        row_sum = torch.mv(e, scale)  # (N,)
        ok &= _trusted(row_sum)
        if step < iterations - 1:
            w = -(torch.log(row_sum) + shift)
    # Final row normalisation (the textbook's ``Q /= Q.sum(rows); Q *= N``).
    return e.mul_(scale[None, :]).div_(row_sum[:, None]), ok


_TRUSTED = 2.0**-100  # sums above this lose nothing to float32 subnormal terms


def _trusted(sums: Tensor) -> Tensor:
    if sums.numel() == 0:
        return torch.ones((), dtype=torch.bool, device=sums.device)
    return (sums.min() > _TRUSTED) & torch.isfinite(sums).all()


def _log_domain(
    logits: Tensor, iterations: int, distributed: bool, group: dist.ProcessGroup | None
) -> Tensor:
    """The same rounds with log-sum-exp over the matrix: robust for any finite scores."""
    row_scale = torch.zeros(logits.shape[0], 1, device=logits.device)  # b_n, (N, 1)
    for step in range(iterations):
        col_scale = -_column_logsumexp(logits + row_scale, distributed, group)  # a_k, (1, K)
        if step < iterations - 1:
            row_scale = -torch.logsumexp(logits + col_scale, dim=1, keepdim=True)
    return torch.softmax(logits + col_scale, dim=1)


def _global_max(x: Tensor, distributed: bool, group: dist.ProcessGroup | None) -> Tensor:
    top = x.max() if x.numel() else x.new_tensor(-torch.inf)
    if distributed:
        dist.all_reduce(top, op=dist.ReduceOp.MAX, group=group)
    return torch.where(torch.isfinite(top), top, torch.zeros_like(top))


def _column_logsumexp(x: Tensor, distributed: bool, group: dist.ProcessGroup | None) -> Tensor:
    """``log Σ_n exp(x[n, k])`` over the rows of all ranks, ``(N, K) -> (1, K)``."""
    if not distributed:
        return torch.logsumexp(x, dim=0, keepdim=True)
    peak = x.amax(dim=0, keepdim=True) if x.shape[0] else x.new_full((1, x.shape[1]), -torch.inf)
    dist.all_reduce(peak, op=dist.ReduceOp.MAX, group=group)
    peak = torch.where(torch.isfinite(peak), peak, torch.zeros_like(peak))
    total = torch.exp(x - peak).sum(dim=0, keepdim=True)
    dist.all_reduce(total, group=group)
    return torch.log(total) + peak


@torch.compiler.disable  # a host sync: an explicit, quiet graph break under torch.compile
def _agree(ok: Tensor, distributed: bool, group: dist.ProcessGroup | None) -> bool:
    """True if the fast path succeeded on every rank (all ranks must take the same path)."""
    ok = ok.to(torch.int32)
    if distributed:
        dist.all_reduce(ok, op=dist.ReduceOp.MIN, group=group)
    return bool(ok.item())
