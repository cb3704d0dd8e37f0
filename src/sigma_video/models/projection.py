"""Target networks φ: what the decoder's predictions are compared with, per masked tube.

Every target network maps ``(video (B, C, T, H, W), masked (B, N_mask))`` to
``(B, N_mask, out_dim)`` targets in the order of ``masked``:

- ``PixelTargets``: per-tube normalised pixels (VideoMAE, paper Eq. 1), no parameters.
- ``MLPProjection``: the jointly trained MLP on per-tube normalised pixels (SIGMA-MLP).
- ``FrozenFeatures``: any frozen per-token feature extractor, e.g. DINO (SIGMA-DINO),
  standardised per video and channel over all tokens.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from contextlib import nullcontext

import torch
from torch import Tensor, nn

from sigma_video.masks.token_mask import gather_tokens
from sigma_video.tubes import normalized_tube_pixels, standardize_tokens, token_grid

# Hidden widths of φ-MLP (output width is separate). "reference" is the released code's
# stack 1536→1024→1024→512→256; "paper" is the text of Sec. 4 (one 1024 hidden layer). The
# ablation's shallower / deeper / wider variants of Tab. 7a are our reading of its text.
PROJECTION_PRESETS: dict[str, tuple[int, ...]] = {
    "reference": (1024, 1024, 512),
    "paper": (1024,),
    "shallower": (1024,),
    "deeper": (1024, 1024, 1024, 512),
    "wider": (2048, 2048, 1024),
}


class PixelTargets(nn.Module):
    """Per-tube normalised pixels of the masked tubes, ``tubelet·patch²·C`` values each."""

    trainable = False

    def __init__(self, tubelet: int = 2, patch: int = 16, in_chans: int = 3) -> None:
        super().__init__()
        self.tubelet, self.patch = tubelet, patch
        self.out_dim = tubelet * patch * patch * in_chans

    def forward(self, video: Tensor, masked: Tensor) -> Tensor:
        with torch.no_grad():
            tubes = normalized_tube_pixels(video, self.tubelet, self.patch)  # (B, N, P·C)
            return gather_tokens(tubes, masked)


class MLPProjection(nn.Module):
    """φ-MLP: Linear/GELU stack embedding each masked tube's normalised pixels.

    Linear layers keep PyTorch's default initialisation, like the reference code.
    """

    trainable = True

    def __init__(
        self,
        hidden: Sequence[int] = PROJECTION_PRESETS["reference"],
        out_dim: int = 256,
        tubelet: int = 2,
        patch: int = 16,
        in_chans: int = 3,
    ) -> None:
        super().__init__()
        if out_dim < 1 or any(h < 1 for h in hidden):
            raise ValueError(f"projection widths must be >= 1, got hidden={hidden}, out={out_dim}")
        self.tubelet, self.patch = tubelet, patch
        self.out_dim = out_dim
        widths = [tubelet * patch * patch * in_chans, *hidden, out_dim]
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(itertools.pairwise(widths)):
            layers.append(nn.Linear(a, b))
            if i < len(widths) - 2:
                layers.append(nn.GELU())
        self.mlp = nn.Sequential(*layers)

    def forward(self, video: Tensor, masked: Tensor) -> Tensor:
        with torch.no_grad():
            tubes = normalized_tube_pixels(video, self.tubelet, self.patch)
            tubes = gather_tokens(tubes, masked)  # (B, N_mask, P·C), only what is predicted
        return self.mlp(tubes.to(self.mlp[0].weight.dtype))


FROZEN_PRECISIONS = ("fp32", "bf16")


class FrozenFeatures(nn.Module):
    """A frozen feature extractor as φ (SIGMA-DINO and friends).

    Args:
        extractor: module mapping ``(B, C, T, H, W)`` clips to ``(B, N, out_dim)`` features,
            one per tube in raster order. It is frozen, kept in eval mode and run without
            gradients.
        out_dim: its feature width (the decoder's output width).
        standardize: standardise per video and channel over all N tokens (reference).
        tubelet, patch: the encoder's tube size; the extractor must return exactly one
            feature per tube of the clip.
        precision: ``"fp32"`` (the official code: its DINO features are computed before
            the training step's autocast, in float32 — TF32 matrix products where the run
            allows them) runs the extractor outside any autocast; ``"bf16"`` leaves it under
            the step's autocast, faster on GPU but 1–3 % of the hard codes differ.
    """

    trainable = False

    def __init__(
        self,
        extractor: nn.Module,
        out_dim: int,
        standardize: bool = True,
        tubelet: int = 2,
        patch: int = 16,
        precision: str = "fp32",
    ) -> None:
        super().__init__()
        if precision not in FROZEN_PRECISIONS:
            raise ValueError(
                f"frozen extractor precision must be one of {FROZEN_PRECISIONS}, got {precision!r}"
            )
        self.extractor = extractor.eval().requires_grad_(False)
        self.precision = precision
        self.out_dim = out_dim
        self.standardize = standardize
        self.tubelet, self.patch = tubelet, patch

    def train(self, mode: bool = True) -> FrozenFeatures:
        super().train(mode)
        self.extractor.eval()
        return self

    def forward(self, video: Tensor, masked: Tensor) -> Tensor:
        exact = self.precision == "fp32"  # leave the step's autocast, as the official code
        autocast = torch.autocast(video.device.type, enabled=False) if exact else nullcontext()
        with torch.no_grad(), autocast:
            features = self.extractor(video.float() if exact else video)  # (B, N, D)
            grid = token_grid(*video.shape[2:], self.tubelet, self.patch)
            expected = (len(video), grid[0] * grid[1] * grid[2], self.out_dim)
            if tuple(features.shape) != expected:
                raise ValueError(
                    f"frozen extractor returned {tuple(features.shape)}, expected {expected}: "
                    f"one {self.out_dim}-d feature per tube of the {grid} grid"
                )
            if self.standardize:
                features = standardize_tokens(features.float(), dim=1)
            return gather_tokens(features, masked)
