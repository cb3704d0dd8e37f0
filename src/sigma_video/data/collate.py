"""Batching: stack the views, repeat the labels, make the masks (they travel with the batch)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from sigma_video.masking import TokenMask, make_mask


class MaskingCollator:
    """``collate(samples) -> batch`` for ``VideoClips`` items.

    The batch holds ``video`` ``uint8 (B·num_sample, 3, T, S, S)``, ``label`` ``(B·num_sample,)``,
    ``mask`` (a ``TokenMask`` for that many clips on the ``grid``, or None when ``grid`` is
    None) and ``skipped`` (all bad samples replaced while loading it). Masks use the
    worker's torch RNG, which ``DataLoader`` seeds per worker from its base seed.
    """

    def __init__(
        self, grid: tuple[int, int, int] | None = None, kind: str = "tube", ratio: float = 0.9
    ) -> None:
        self.grid, self.kind, self.ratio = grid, kind, ratio
        if grid is not None:
            make_mask(kind, 1, grid, ratio)  # validate now, not in a worker

    def __call__(self, samples: Sequence[dict]) -> dict:
        video = torch.cat([s["video"] for s in samples])  # (B·n, 3, T, S, S)
        views = [s["video"].shape[0] for s in samples]
        label = torch.tensor([s["label"] for s in samples]).repeat_interleave(torch.tensor(views))
        mask: TokenMask | None = None
        if self.grid is not None:
            mask = make_mask(self.kind, video.shape[0], self.grid, self.ratio)
        return {
            "video": video,
            "label": label,
            "mask": mask,
            "index": torch.tensor([s["index"] for s in samples]),
            "skipped": [item for s in samples for item in s["skipped"]],
        }
