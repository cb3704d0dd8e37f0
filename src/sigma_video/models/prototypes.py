"""Learnable prototypes C: the cluster centroids the Sinkhorn codes refer to."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class Prototypes(nn.Module):
    """``K × D`` prototypes, L2-normalised in place before every use.

    Initialised ``N(0, 1)`` like the reference. ``freeze_steps`` > 0 keeps them fixed for the
    first steps (call ``cancel_gradients(step)`` after backward); 0 (the reference) never.
    """

    def __init__(self, num_prototypes: int, dim: int, freeze_steps: int = 0) -> None:
        super().__init__()
        if num_prototypes < 2:
            raise ValueError(f"num_prototypes K must be >= 2, got {num_prototypes}")
        if freeze_steps < 0:
            raise ValueError(f"freeze_steps must be >= 0, got {freeze_steps}")
        self.weight = nn.Parameter(torch.randn(num_prototypes, dim))
        self.freeze_steps = freeze_steps

    @property
    def num_prototypes(self) -> int:
        return self.weight.shape[0]

    @torch.no_grad()
    def normalize_(self) -> Tensor:
        """Project the rows back onto the unit sphere (outside autograd); returns the weight."""
        self.weight.copy_(F.normalize(self.weight, dim=1))
        return self.weight

    def cancel_gradients(self, step: int) -> None:
        """Drop the prototypes' gradient while ``step < freeze_steps``."""
        if step < self.freeze_steps:
            self.weight.grad = None
