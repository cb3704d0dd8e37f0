"""Token masks as index tensors, and the counts and checks every mask kind shares.

Tokens are the space-time tubes of a clip in ``(t, h, w)`` raster order, i.e. token
``n = t·H·W + h·W + w`` on a ``(T, H, W)`` grid (T = frames / tubelet, H = W = size / patch);
a time slot is one ``t``. A mask is a pair of sorted index tensors: ``visible`` (B, N_vis)
enters the encoder and ``masked`` (B, N_mask) is predicted by the decoder; together they
partition ``range(N)``. Ascending order matches the reference code's boolean selection
``x[~mask]`` / ``x[mask]``. With decoder masking (``masks.dual``) ``decoded`` (B, N_dec)
names the masked tokens the decoder predicts; without it, it predicts all of ``masked``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class TokenMask:
    """Visible and masked token indices of a batch; both sorted ascending per sample.

    Attributes:
        visible: ``(B, N_vis)`` int64 indices of the tokens the encoder sees.
        masked: ``(B, N_mask)`` int64 indices of the tokens hidden from the encoder.
        decoded: ``(B, N_dec)`` int64 indices, a subset of ``masked``: the tokens the
            decoder predicts and the loss is taken over (decoder masking); None: all of
            ``masked``.
    """

    visible: Tensor
    masked: Tensor
    decoded: Tensor | None = None

    @property
    def predicted(self) -> Tensor:
        """``(B, N_pred)`` the tokens the decoder predicts: ``decoded``, else ``masked``."""
        return self.masked if self.decoded is None else self.decoded

    @property
    def num_tokens(self) -> int:
        return self.visible.shape[1] + self.masked.shape[1]

    def to(self, device: torch.device | str, non_blocking: bool = False) -> TokenMask:
        decoded = self.decoded
        return TokenMask(
            self.visible.to(device, non_blocking=non_blocking),
            self.masked.to(device, non_blocking=non_blocking),
            None if decoded is None else decoded.to(device, non_blocking=non_blocking),
        )

    def boolean(self) -> Tensor:
        """``(B, N)`` bool, True where a token is masked (the reference's ``bool_masked_pos``)."""
        out = torch.zeros(
            self.masked.shape[0], self.num_tokens, dtype=torch.bool, device=self.masked.device
        )
        return out.scatter_(1, self.masked, True)

    @staticmethod
    def cat(masks: Sequence[TokenMask]) -> TokenMask:
        """Masks of several clips (the same counts) as one: rows stacked in order."""
        decoded = [m.decoded for m in masks if m.decoded is not None]
        if decoded and len(decoded) != len(masks):
            raise ValueError("masks with and without decoder masking cannot be stacked")
        return TokenMask(
            visible=torch.cat([m.visible for m in masks]),
            masked=torch.cat([m.masked for m in masks]),
            decoded=torch.cat(decoded) if decoded else None,
        )


def gather_tokens(x: Tensor, index: Tensor) -> Tensor:
    """Select tokens per sample: ``(B, N, D)``, ``(B, M)`` -> ``(B, M, D)``."""
    return torch.gather(x, 1, index.unsqueeze(-1).expand(-1, -1, x.shape[-1]))


def check_ratio(ratio: float, name: str = "mask ratio") -> None:
    """Raise ValueError for a mask ratio outside the open interval (0, 1)."""
    if not 0.0 < ratio < 1.0:
        raise ValueError(f"{name} must be in the open interval (0, 1), got {ratio}")


def check_grid(grid: tuple[int, int, int]) -> tuple[int, int, int]:
    """The token grid ``(T, H, W)`` as ints; raises ValueError unless three positive sizes."""
    if len(grid) != 3 or any(int(g) < 1 for g in grid):
        raise ValueError(f"grid must be three positive sizes (T, H, W), got {grid}")
    return int(grid[0]), int(grid[1]), int(grid[2])


def masked_count(ratio: float, tokens: int, where: str = "per time slot") -> int:
    """``int(ratio · tokens)`` tokens masked of ``tokens``; raises ValueError unless it
    masks at least one and keeps at least one.

    Per time slot of ``H·W`` tokens this is the count of tube masking and of the
    motion-guided masks: ``int(0.9 · 196) = 176`` for 224² clips with 16² patches, as in
    the reference code.
    """
    check_ratio(ratio)
    count = int(ratio * tokens)
    if not 0 < count < tokens:
        raise ValueError(
            f"mask ratio {ratio} masks {count} of {tokens} tokens {where}; "
            "it must mask at least one and keep at least one"
        )
    return count


def random_permutations(
    rows: int, size: int, generator: torch.Generator | None, device: torch.device | str | None
) -> Tensor:
    """``(rows, size)`` int64, each row an independent uniform permutation of ``range(size)``,
    drawn on the generator's device and moved to ``device``."""
    if rows < 1:
        raise ValueError(f"batch_size must be >= 1, got {rows}")
    draw_on = generator.device if generator is not None else device
    noise = torch.rand(rows, size, generator=generator, device=draw_on)
    return noise.argsort(dim=1).to(device if device is not None else draw_on)


@dataclass(frozen=True)
class PerSlotMasks:
    """What the generators that mask ``int(ratio · H·W)`` tokens in every time slot share
    (tube, MGM, MGMAE): the ``grid`` ``(T, H, W)`` and ``ratio``, checked when made, and
    their counts."""

    grid: tuple[int, int, int]
    ratio: float

    def __post_init__(self) -> None:
        self.num_masked  # noqa: B018 - checks the grid and the ratio

    @property
    def masked_per_slot(self) -> int:
        return masked_count(self.ratio, self.grid[1] * self.grid[2])

    @property
    def num_masked(self) -> int:
        """Masked tokens per clip: ``T · int(ratio · H·W)``."""
        return check_grid(self.grid)[0] * self.masked_per_slot
