"""Mixup / CutMix on video batches and the soft-target loss (VideoMAE's fine-tuning recipe,
with timm's ``Mixup`` semantics in batch mode). Pure functions: all randomness comes from
the ``random.Random`` passed in, so a resumed run mixes exactly as the original.

A clip is mixed as a whole: one λ and one CutMix box for all its frames.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass(frozen=True)
class MixConfig:
    """``mixup``/``cutmix``: Beta(α, α) parameters (0 turns one off); ``prob``: chance a
    batch is mixed at all; ``switch_prob``: chance of CutMix when both are on;
    ``smoothing``: label smoothing of the targets."""

    mixup: float = 0.8
    cutmix: float = 1.0
    prob: float = 1.0
    switch_prob: float = 0.5
    smoothing: float = 0.1

    def __post_init__(self) -> None:
        if self.mixup < 0 or self.cutmix < 0:
            raise ValueError(f"mixup/cutmix alphas must be >= 0, got {self.mixup}, {self.cutmix}")
        for name in ("prob", "switch_prob", "smoothing"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")

    @property
    def active(self) -> bool:
        return self.prob > 0 and (self.mixup > 0 or self.cutmix > 0)


def smooth_one_hot(labels: Tensor, num_classes: int, smoothing: float = 0.0) -> Tensor:
    """``(B,)`` int labels -> ``(B, C)`` targets: ``1 − s + s/C`` on the label, ``s/C`` off it."""
    off = smoothing / num_classes
    targets = torch.full((len(labels), num_classes), off, device=labels.device)
    return targets.scatter_(1, labels[:, None], 1.0 - smoothing + off)


def soft_cross_entropy(logits: Tensor, targets: Tensor) -> Tensor:
    """Mean over the batch of ``−Σ_c y_c log softmax(logits)_c``; ``(B, C)`` both."""
    return torch.sum(-targets * F.log_softmax(logits.float(), dim=-1), dim=-1).mean()


def cutmix_box(
    height: int, width: int, lam: float, rng: random.Random
) -> tuple[tuple[int, int, int, int], float]:
    """A box covering about ``1 − lam`` of the frame, centred uniformly at random and
    clipped to it: ``((top, bottom, left, right), lam corrected for the clipped area)``."""
    ratio = math.sqrt(1.0 - lam)
    cut_h, cut_w = int(height * ratio), int(width * ratio)
    cy, cx = rng.randrange(height), rng.randrange(width)
    top, bottom = max(cy - cut_h // 2, 0), min(cy + cut_h // 2, height)
    left, right = max(cx - cut_w // 2, 0), min(cx + cut_w // 2, width)
    corrected = 1.0 - (bottom - top) * (right - left) / (height * width)
    return (top, bottom, left, right), corrected


def mix_batch(
    video: Tensor, labels: Tensor, num_classes: int, config: MixConfig, rng: random.Random
) -> tuple[Tensor, Tensor]:
    """Mix each clip with its mirror in the batch (``video.flip(0)``).

    Args:
        video: ``(B, C, T, H, W)`` clips (float).
        labels: ``(B,)`` int class labels.

    Returns:
        ``(mixed video (B, C, T, H, W), soft targets (B, num_classes))``; the targets are
        ``λ·y + (1 − λ)·y_mirror`` of the smoothed one-hot labels.
    """
    lam = 1.0
    if config.active and rng.random() < config.prob:
        use_cutmix = config.cutmix > 0 and (config.mixup == 0 or rng.random() < config.switch_prob)
        if use_cutmix:
            lam = rng.betavariate(config.cutmix, config.cutmix)
            (top, bottom, left, right), lam = cutmix_box(*video.shape[-2:], lam, rng)
            video = video.clone()
            video[..., top:bottom, left:right] = video.flip(0)[..., top:bottom, left:right]
        else:
            lam = rng.betavariate(config.mixup, config.mixup)
            video = video * lam + video.flip(0) * (1.0 - lam)
    targets = smooth_one_hot(labels, num_classes, config.smoothing)
    if lam != 1.0:
        targets = targets * lam + targets.flip(0) * (1.0 - lam)
    return video, targets
