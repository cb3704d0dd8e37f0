"""Linear probe on frozen features: a norm (train-set standardisation) and a linear layer.

The fit runs in float64. With its default 100 iterations L-BFGS stops well short of the
optimum on the demo's features (random init: loss 1.25 at 100 iterations, 1.05 at 1000,
where the probe reads 43.8 / 61.5 % instead of about 30 / 46), so where it stops depends on
the rounding of every step. In float32 the thread count alone moved the demo's random-init
probe (31.2 / 45.8 % on 2 threads, 32.3 / 43.8 on 1, 32.3 / 46.9 with ``MKL_CBWR=COMPATIBLE``,
the features bit for bit the same); in float64 the same features give the same probe on 1
or 2 threads and either MKL path. A change of the features themselves (~1e-6, e.g. another
CPU's kernels) still moves the early-stopped probe by a few points."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from sigma_video.evaluation.metrics import topk_accuracy
from sigma_video.evaluation.settings import LBFGS_MAX_ITER, LBFGS_WEIGHT_DECAY


def fit_linear(
    x: Tensor,
    y: Tensor,
    num_classes: int,
    weight_decay: float = LBFGS_WEIGHT_DECAY,
    max_iter: int = LBFGS_MAX_ITER,
) -> tuple[Tensor, Tensor]:
    """Multinomial logistic regression: minimise ``mean CE(x Wᵀ + b, y) + wd/2 ‖W‖²``
    (bias not decayed) with full-batch L-BFGS from zero, which is convex and deterministic;
    in float64 whatever ``x``'s dtype, so that the thread count does not steer the stop
    after ``max_iter`` iterations (module doc).

    Args:
        x: ``(N, D)`` features; y: ``(N,)`` labels in ``0..num_classes-1``.

    Returns:
        ``W (num_classes, D)``, ``b (num_classes,)`` in float64.
    """
    x = x.double()
    weight = torch.zeros(num_classes, x.shape[1], dtype=x.dtype, requires_grad=True)
    bias = torch.zeros(num_classes, dtype=x.dtype, requires_grad=True)
    optimizer = torch.optim.LBFGS(
        [weight, bias],
        lr=1.0,
        max_iter=max_iter,
        history_size=10,
        tolerance_grad=1e-6,
        tolerance_change=1e-9,
        line_search_fn="strong_wolfe",
    )

    def closure() -> Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(F.linear(x, weight, bias), y)
        loss = loss + 0.5 * weight_decay * weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return weight.detach(), bias.detach()


def linear_probe(
    train_x: Tensor,
    train_y: Tensor,
    val_x: Tensor,
    val_y: Tensor,
    weight_decay: float = LBFGS_WEIGHT_DECAY,
    max_iter: int = LBFGS_MAX_ITER,
) -> dict[str, float]:
    """A linear classifier on frozen features: a norm (standardisation with the training
    set's statistics) and a linear layer fitted by ``fit_linear``, all in float64 (module
    doc: in float32 the thread count moved the demo's probe by points).

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
    train_x, val_x = train_x.double(), val_x.double()
    mean, std = train_x.mean(0), train_x.std(0) + 1e-6
    weight, bias = fit_linear((train_x - mean) / std, train_y, num_classes, weight_decay, max_iter)
    logits = F.linear((val_x - mean) / std, weight, bias)
    return {
        "top1": topk_accuracy(logits, val_y, 1),
        "top5": topk_accuracy(logits, val_y, 5),
        "num_train": len(train_x),
        "num_val": len(val_x),
    }
