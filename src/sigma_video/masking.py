"""Token masks for masked video modelling, as index tensors for a whole batch.

Tokens are the space-time tubes of a clip in ``(t, h, w)`` raster order, i.e. token
``n = t·H·W + h·W + w`` on a ``(T, H, W)`` grid (T = frames / tubelet, H = W = size / patch).
A mask is a pair of sorted index tensors: ``visible`` (B, N_vis) enters the encoder and
``masked`` (B, N_mask) is predicted by the decoder; together they partition ``range(N)``.
Ascending order matches the reference code's boolean selection ``x[~mask]`` / ``x[mask]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class TokenMask:
    """Visible and masked token indices of a batch; both sorted ascending per sample.

    Attributes:
        visible: ``(B, N_vis)`` int64 indices of the tokens the encoder sees.
        masked: ``(B, N_mask)`` int64 indices of the tokens to predict.
    """

    visible: Tensor
    masked: Tensor

    @property
    def num_tokens(self) -> int:
        return self.visible.shape[1] + self.masked.shape[1]

    def to(self, device: torch.device | str, non_blocking: bool = False) -> TokenMask:
        return TokenMask(
            self.visible.to(device, non_blocking=non_blocking),
            self.masked.to(device, non_blocking=non_blocking),
        )

    def boolean(self) -> Tensor:
        """``(B, N)`` bool, True where a token is masked (the reference's ``bool_masked_pos``)."""
        out = torch.zeros(
            self.masked.shape[0], self.num_tokens, dtype=torch.bool, device=self.masked.device
        )
        return out.scatter_(1, self.masked, True)


def num_masked_per_frame(ratio: float, tokens_per_frame: int) -> int:
    """Masked tokens per time slot for tube masking: ``int(ratio · tokens_per_frame)``.

    ``int(0.9 · 196) = 176`` for 224² clips with 16² patches, as in the reference code.
    """
    check_ratio(ratio)
    count = int(ratio * tokens_per_frame)
    if not 0 < count < tokens_per_frame:
        raise ValueError(
            f"mask ratio {ratio} masks {count} of {tokens_per_frame} tokens per frame; "
            "it must mask at least one and keep at least one"
        )
    return count


def tube_mask(
    batch_size: int,
    grid: tuple[int, int, int],
    ratio: float,
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> TokenMask:
    """Random tube masking: one random spatial mask per sample, repeated over all time slots.

    Args:
        batch_size: number of clips B.
        grid: token grid ``(T, H, W)``.
        ratio: share of each time slot's ``H·W`` tokens to mask, in (0, 1).
        generator: optional RNG for reproducible masks (on any device; the indices are
            drawn there and moved to ``device``).
        device: where the indices are made (the batch's device).

    Returns:
        A ``TokenMask`` with ``T·int(ratio·H·W)`` masked tokens per clip.
    """
    frames, height, width = _check_grid(grid)
    per_frame = height * width
    count = num_masked_per_frame(ratio, per_frame)
    order = _random_permutations(batch_size, per_frame, generator, device)  # (B, H·W)
    offsets = torch.arange(frames, device=order.device) * per_frame  # (T,)

    def expand(spatial: Tensor) -> Tensor:  # (B, S) sorted -> (B, T·S) sorted
        return (offsets[None, :, None] + spatial[:, None, :]).flatten(1)

    masked = order[:, :count].sort(dim=1).values
    visible = order[:, count:].sort(dim=1).values
    return TokenMask(visible=expand(visible), masked=expand(masked))


def random_mask(
    batch_size: int,
    grid: tuple[int, int, int],
    ratio: float,
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> TokenMask:
    """Plain random token masking: ``int(ratio · N)`` of all ``N = T·H·W`` tokens per clip."""
    frames, height, width = _check_grid(grid)
    total = frames * height * width
    check_ratio(ratio)
    count = int(ratio * total)
    if not 0 < count < total:
        raise ValueError(
            f"mask ratio {ratio} masks {count} of {total} tokens; "
            "it must mask at least one and keep at least one"
        )
    order = _random_permutations(batch_size, total, generator, device)
    return TokenMask(
        visible=order[:, count:].sort(dim=1).values, masked=order[:, :count].sort(dim=1).values
    )


MASKS = {"tube": tube_mask, "random": random_mask}
# made from each clip's motion: codec motion vectors (``mgm``, ``data.motion``) or optical
# flow (``mgmae``, ``flow``); without it (a batch of tensors, a file without motion vectors)
# they are tube masks of the same count
MOTION_MASKS = ("mgm", "mgmae")
MASK_KINDS = (*MASKS, *MOTION_MASKS)


def make_mask(
    kind: str,
    batch_size: int,
    grid: tuple[int, int, int],
    ratio: float,
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> TokenMask:
    """Dispatch to a masking strategy by name (``tube``, ``random``; ``mgm`` and ``mgmae``
    without their motion are ``tube``)."""
    if kind not in MASK_KINDS:
        raise ValueError(f"mask kind must be one of {sorted(MASK_KINDS)}, got {kind!r}")
    strategy = MASKS.get(kind, tube_mask)
    return strategy(batch_size, grid, ratio, generator=generator, device=device)


def gather_tokens(x: Tensor, index: Tensor) -> Tensor:
    """Select tokens per sample: ``(B, N, D)``, ``(B, M)`` -> ``(B, M, D)``."""
    return torch.gather(x, 1, index.unsqueeze(-1).expand(-1, -1, x.shape[-1]))


def _random_permutations(
    rows: int, size: int, generator: torch.Generator | None, device: torch.device | str | None
) -> Tensor:
    """``(rows, size)`` int64, each row an independent uniform permutation of ``range(size)``."""
    if rows < 1:
        raise ValueError(f"batch_size must be >= 1, got {rows}")
    draw_on = generator.device if generator is not None else device
    noise = torch.rand(rows, size, generator=generator, device=draw_on)
    return noise.argsort(dim=1).to(device if device is not None else draw_on)


def check_ratio(ratio: float, name: str = "mask ratio") -> None:
    """Raise ValueError for a mask ratio outside the open interval (0, 1)."""
    if not 0.0 < ratio < 1.0:
        raise ValueError(f"{name} must be in the open interval (0, 1), got {ratio}")


def _check_grid(grid: tuple[int, int, int]) -> tuple[int, int, int]:
    if len(grid) != 3 or any(int(g) < 1 for g in grid):
        raise ValueError(f"grid must be three positive sizes (T, H, W), got {grid}")
    return int(grid[0]), int(grid[1]), int(grid[2])
