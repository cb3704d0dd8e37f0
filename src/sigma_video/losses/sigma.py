"""The SIGMA objective: symmetric cross-prediction of Sinkhorn codes (paper Eq. 5-7)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from sigma_video.losses.diagnostics import prototype_usage
from sigma_video.losses.sinkhorn import sinkhorn_knopp

CODE_KINDS = ("hard", "soft")


@dataclass(frozen=True)
class SigmaLossOutput:
    """The loss and its parts; every tensor but ``loss`` is detached.

    ``loss_phi`` is ``CE(x̃φ, qΨ)``: φ's scores predict the codes of Ψ's features (trains φ
    and the prototypes); ``loss_psi`` is ``CE(x̃Ψ, qφ)``: Ψ's scores predict φ's codes
    (trains the encoder/decoder only).

    Diagnostics: ``usage_entropy`` (nats, at most ``log K``) and ``prototypes_in_use`` count
    the pseudo-labels ``argmax q`` of both branches — the equipartition keeps them high even
    when the features collapse (identical rows get uniform codes, whose argmax is a float
    tie-break). ``score_usage_entropy`` is the same for φ's raw scores ``argmax x̃φ``: it is
    the one that falls to 0 when φ maps every tube to one prototype.
    """

    loss: Tensor
    loss_phi: Tensor
    loss_psi: Tensor
    usage_entropy: Tensor
    prototypes_in_use: Tensor
    score_usage_entropy: Tensor

    def metrics(self) -> dict[str, Tensor]:
        return {name: getattr(self, name).detach() for name in self.__dataclass_fields__}


def prototype_scores(features: Tensor, prototypes: Tensor) -> Tensor:
    """Cosine scores ``x̃ = normalize(x) · Cᵀ``, ``(M, D), (K, D) -> (M, K)`` in float32.

    ``prototypes`` are used as given (``Prototypes`` keeps them unit-norm).
    """
    with torch.autocast(features.device.type, enabled=False):
        return F.normalize(features.float(), dim=-1) @ prototypes.float().T


def cross_entropy(scores: Tensor, target: Tensor, temperature: float) -> Tensor:
    """Mean over rows of ``-Σ_k q_k log softmax(scores/τ)_k`` (Eq. 5-6).

    Args:
        scores: ``(M, K)`` prototype scores.
        target: ``(M,)`` hard prototype labels, or ``(M, K)`` soft codes.
    """
    logits = scores / temperature
    if target.ndim == 1:
        return F.cross_entropy(logits, target)
    return -(target * F.log_softmax(logits, dim=1)).sum(dim=1).mean()


def check_sigma_options(temperature: float, codes: str) -> None:
    """Raise ValueError naming the first option outside its allowed range (ε and the
    iterations are Sinkhorn's: ``check_sinkhorn_options``)."""
    if codes not in CODE_KINDS:
        raise ValueError(f"codes must be one of {CODE_KINDS}, got {codes!r}")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")


def sigma_loss(
    predicted: Tensor,
    projected: Tensor,
    prototypes: Tensor,
    *,
    temperature: float = 0.1,
    epsilon: float = 0.05,
    iterations: int = 10,
    codes: str = "hard",
    distributed: bool | None = None,
) -> SigmaLossOutput:
    """SIGMA's symmetric loss over all masked tubes of the batch (Eq. 7).

    Args:
        predicted: ``(..., D)`` Ψ's features x^Ψ (decoder output) for the masked tubes.
        projected: ``(..., D)`` φ's features x^φ for the same tubes, same order.
        prototypes: ``(K, D)`` unit-norm prototypes C.
        temperature: softmax temperature τ (reference 0.1).
        epsilon, iterations: Sinkhorn regularisation and rounds; the codes of each branch
            are an equipartition over all masked tubes of the (global) batch.
        codes: ``"hard"`` (the argmax of the Sinkhorn codes, the released recipe) or
            ``"soft"`` (the codes themselves, Eq. 5).
        distributed: passed to ``sinkhorn_knopp``; False solves on this rank's tubes only
            (e.g. an evaluation pass on one rank), None uses all ranks when initialised.

    Returns:
        ``SigmaLossOutput`` with ``loss = loss_phi + loss_psi``, each the mean over tubes.
        Gradients: codes carry none; ``loss_phi`` reaches φ and C; ``loss_psi`` reaches Ψ
        but not C (the prototypes are detached in the Ψ-prediction term).
    """
    check_sigma_options(temperature, codes)  # ε and iterations: sinkhorn_knopp
    if predicted.shape != projected.shape:
        raise ValueError(
            f"predicted {tuple(predicted.shape)} and projected {tuple(projected.shape)} "
            "features must have the same shape"
        )
    if prototypes.ndim != 2 or prototypes.shape[1] != predicted.shape[-1]:
        raise ValueError(
            f"prototypes must be (K, {predicted.shape[-1]}), got {tuple(prototypes.shape)}"
        )
    if predicted.numel() == 0:
        raise ValueError("no masked tubes: the SIGMA loss needs at least one")
    x_psi = predicted.reshape(-1, predicted.shape[-1])  # (M, D)
    x_phi = projected.reshape(-1, projected.shape[-1])
    scores_phi = prototype_scores(x_phi, prototypes)  # (M, K)
    scores_psi = prototype_scores(x_psi, prototypes.detach())
    codes_phi = sinkhorn_knopp(scores_phi, epsilon, iterations, distributed=distributed)
    codes_psi = sinkhorn_knopp(scores_psi, epsilon, iterations, distributed=distributed)
    labels_phi, labels_psi = codes_phi.argmax(dim=1), codes_psi.argmax(dim=1)  # (M,)
    hard = codes == "hard"
    loss_phi = cross_entropy(scores_phi, labels_psi if hard else codes_psi, temperature)
    loss_psi = cross_entropy(scores_psi, labels_phi if hard else codes_phi, temperature)
    num_prototypes = prototypes.shape[0]
    entropy, in_use = prototype_usage(torch.cat([labels_phi, labels_psi]), num_prototypes)
    score_entropy, _ = prototype_usage(scores_phi.detach().argmax(dim=1), num_prototypes)
    return SigmaLossOutput(
        loss=loss_phi + loss_psi,
        loss_phi=loss_phi.detach(),
        loss_psi=loss_psi.detach(),
        usage_entropy=entropy,
        prototypes_in_use=in_use,
        score_usage_entropy=score_entropy,
    )
