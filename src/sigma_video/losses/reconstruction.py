"""L2 reconstruction losses: VideoMAE pixels (Eq. 1) and deep features (Eq. 2)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def l2_loss(predicted: Tensor, target: Tensor) -> Tensor:
    """Mean squared error over all masked tubes and channels (the reference's ``MSELoss``).

    Eq. 1/2 up to the constant factor 1/D. Gradients flow into both arguments; pass a
    target without gradient for pixel reconstruction, a trained φ's output for the
    deep-feature ablation (which collapses — paper Tab. 7b).
    """
    if predicted.shape != target.shape:
        raise ValueError(
            f"prediction {tuple(predicted.shape)} and target {tuple(target.shape)} differ"
        )
    return F.mse_loss(predicted.float(), target.float())
