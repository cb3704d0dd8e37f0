"""Objectives as modules: ``objective(predicted, target) -> (loss, metrics)``.

``predicted`` and ``target`` are ``(B, N_mask, D)`` decoder outputs and target-network
outputs for the same masked tubes. Metrics are detached scalar tensors (no host sync).
"""

from __future__ import annotations

from typing import Protocol

from torch import Tensor, nn

from sigma_video.losses.diagnostics import feature_spread
from sigma_video.losses.reconstruction import l2_loss
from sigma_video.losses.sigma import sigma_loss


class PrototypeBank(Protocol):
    """What the objective needs of its prototypes (``models.Prototypes`` is one)."""

    def normalize_(self) -> Tensor:
        """Unit-normalise the ``(K, D)`` prototypes in place; return them."""
        ...

    def cancel_gradients(self, step: int) -> None:
        """Drop the prototypes' gradient while they are frozen."""
        ...


class SigmaObjective(nn.Module):
    """Sinkhorn-guided cross-prediction over learnable prototypes (SIGMA).

    ``distributed=None`` solves Sinkhorn over all ranks' tubes when ``torch.distributed`` is
    initialised (the recipe); set ``objective.distributed = False`` for a pass that runs on
    one rank only.
    """

    def __init__(
        self,
        prototypes: PrototypeBank,
        temperature: float = 0.1,
        epsilon: float = 0.05,
        iterations: int = 10,
        codes: str = "hard",
        distributed: bool | None = None,
    ) -> None:
        super().__init__()
        self.prototypes = prototypes
        self.temperature, self.epsilon, self.iterations = temperature, epsilon, iterations
        self.codes, self.distributed = codes, distributed

    def forward(self, predicted: Tensor, target: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        out = sigma_loss(
            predicted,
            target,
            self.prototypes.normalize_(),
            temperature=self.temperature,
            epsilon=self.epsilon,
            iterations=self.iterations,
            codes=self.codes,
            distributed=self.distributed,
        )
        metrics = out.metrics()
        metrics["feature_spread"] = feature_spread(target)
        return out.loss, metrics

    def after_backward(self, step: int) -> None:
        self.prototypes.cancel_gradients(step)


class L2Objective(nn.Module):
    """Mean squared error to the target: VideoMAE pixels, or the collapsing feature-L2."""

    def forward(self, predicted: Tensor, target: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        loss = l2_loss(predicted, target)
        return loss, {"loss": loss.detach(), "feature_spread": feature_spread(target)}

    def after_backward(self, step: int) -> None:
        """Nothing to adjust."""
