"""MGMAE (Huang et al., ICCV 2023): flow-guided masks, as pure functions of one clip.

1. An initial visibility map on a base frame, in pixels: ``mix_gauss`` (the released
   scripts' default) is the maximum of unit Gaussians ``exp(−(dx² + dy²) / patch²)`` centred
   on the centres of ``n`` random token cells, divided by its maximum; ``token_rand`` is 1
   on those cells' pixels and 1e-8 elsewhere. ``n`` is the tube mask's visible count.
2. The map is carried frame to frame along the optical flow, from the base frame forwards
   (flow ``t → t+1``) and backwards (flow ``t+1 → t``), by forward warping (average
   splatting, ``flow.warp``); pixels nothing lands on (holes) take the initial map's value
   (``consist`` hole filling, the released default) or stay 0 (``none``).
3. Each tube scores the sum of the maps over its ``tubelet × patch × patch`` pixels; in every
   time slot the ``n`` best-scoring tubes stay visible (ties broken at random), the others
   are masked: the same count per slot as tube masking, so FLOPs and the loss do not change.
   ``exposure`` adds N(0, 1) noise to the scores of one random slot (MGMAE's
   ``exposure_chance``, off in its scripts).

The released code warps backwards (``grid_sample`` with flow ``t+1 → t``), and for the frames
before the base frame uses the flow of the wrong direction (its ``'backwarp'`` test never
matches, so those masks drift against the motion); here both directions use the flow that
points from the known frame to the next one, so masks follow the motion on both sides.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import torch
from torch import Tensor

from sigma_video.flow.sources import FLOW_SOURCES
from sigma_video.flow.warp import forward_warp
from sigma_video.masks.token_mask import PerSlotMasks, TokenMask, masked_count

INIT_MAPS = ("mix_gauss", "token_rand")
BASE_FRAMES = ("middle", "first", "random")
HOLE_FILLINGS = ("consist", "none")


@dataclass(frozen=True)
class FlowMaskOptions:
    """MGMAE's settings (``[mask.flow]``): where the optical flow comes from and how the
    visibility map is carried along it."""

    source: str = "dis"
    """MGMAE's flow: `dis` (OpenCV, in the loader workers) or `raft` (torchvision RAFT, on
    the device)"""
    weights: str | None = None
    """RAFT's weights file (`mask.flow.source=raft`)"""
    init: str = "mix_gauss"
    """MGMAE's initial visibility map: `mix_gauss` or `token_rand`"""
    base: str = "middle"
    """MGMAE's base frame: `middle`, `first` or `random`"""
    holes: str = "consist"
    """MGMAE's hole filling after warping: `consist` or `none`"""
    exposure: bool = False
    """MGMAE's exposure noise on one time slot's scores"""

    def __post_init__(self) -> None:
        for name, allowed in (
            ("source", FLOW_SOURCES),
            ("init", INIT_MAPS),
            ("base", BASE_FRAMES),
            ("holes", HOLE_FILLINGS),
        ):
            if getattr(self, name) not in allowed:
                raise ValueError(
                    f"mask.flow.{name} must be one of {allowed}, got {getattr(self, name)!r}"
                )

    @property
    def on_device(self) -> bool:
        """The flow is computed on the training device (RAFT), not in the loader."""
        return self.source == "raft"


def visible_count(ratio: float, per_slot: int) -> int:
    """Tubes left visible per time slot by tube masking at ``ratio``."""
    return per_slot - masked_count(ratio, per_slot)


def initial_map(
    cells: Tensor, grid: tuple[int, int], patch: int, kind: str = "mix_gauss"
) -> Tensor:
    """``float32 (H, W)`` visibility of the base frame for the visible token ``cells``
    (raster indices into the ``grid`` ``(H', W')`` of ``patch``-pixel cells)."""
    if kind not in INIT_MAPS:
        raise ValueError(f"initial map must be one of {INIT_MAPS}, got {kind!r}")
    rows, cols = grid
    height, width = rows * patch, cols * patch
    if kind == "token_rand":
        cell_map = torch.full((rows * cols,), 1e-8)
        cell_map[cells] = 1.0
        return cell_map.view(rows, cols).repeat_interleave(patch, 0).repeat_interleave(patch, 1)
    centre_y = (cells // cols).float() * patch + (patch - 1) / 2  # (n,)
    centre_x = (cells % cols).float() * patch + (patch - 1) / 2
    y = torch.arange(height, dtype=torch.float32)[:, None, None]
    x = torch.arange(width, dtype=torch.float32)[None, :, None]
    blobs = torch.exp(-(((y - centre_y) / patch) ** 2 + ((x - centre_x) / patch) ** 2))
    best = blobs.amax(-1)  # (H, W)
    return best / best.max()


def propagate(
    start: Tensor, forward: Tensor, backward: Tensor, base: int, hole_filling: str = "consist"
) -> Tensor:
    """``(T, H, W)`` visibility of every frame from ``start`` ``(H, W)`` on frame ``base``:
    chained forward warps along ``forward[t]`` (flow t → t+1) after the base and
    ``backward[t]`` (flow t+1 → t) before it; holes per ``hole_filling``."""
    if hole_filling not in HOLE_FILLINGS:
        raise ValueError(f"hole filling must be one of {HOLE_FILLINGS}, got {hole_filling!r}")
    frames = len(forward) + 1
    if not 0 <= base < frames:
        raise ValueError(f"base frame {base} outside 0..{frames - 1}")
    maps: list[Tensor | None] = [None] * frames
    maps[base] = start

    def step(current: Tensor, flow: Tensor) -> Tensor:
        warped, coverage = forward_warp(current[None], flow)
        warped = warped[0]
        if hole_filling == "consist":
            holes = coverage == 0
            warped[holes] = start[holes]
        return warped

    for t in range(base, frames - 1):
        maps[t + 1] = step(maps[t], forward[t])
    for t in range(base, 0, -1):
        maps[t - 1] = step(maps[t], backward[t - 1])
    return torch.stack(maps)  # type: ignore[arg-type]


def tube_scores(maps: Tensor, tubelet: int, patch: int) -> Tensor:
    """``(T, H, W)`` maps -> ``(T/tubelet, (H/patch)·(W/patch))`` sums per tube."""
    t, h, w = maps.shape
    if t % tubelet or h % patch or w % patch:
        raise ValueError(f"maps {(t, h, w)} do not tile into {tubelet}×{patch}×{patch} tubes")
    tubes = maps.reshape(t // tubelet, tubelet, h // patch, patch, w // patch, patch)
    return tubes.sum(dim=(1, 3, 5)).flatten(1)


def keep_best(scores: Tensor, count: int, generator: torch.Generator, exposure: bool) -> TokenMask:
    """Per time slot of ``scores`` ``(T', S)``, keep the ``count`` best tubes visible."""
    slots, per_slot = scores.shape
    scores = scores.double()
    if exposure:
        slot = int(torch.randint(slots, (1,), generator=generator))
        scores[slot] += torch.randn(per_slot, generator=generator, dtype=torch.float64)
    ties = torch.rand(slots, per_slot, generator=generator, dtype=torch.float64)
    best = torch.topk(scores + 1e-9 * ties, count, dim=1).indices  # (T', count)
    visible = torch.sort((best + torch.arange(slots)[:, None] * per_slot).flatten()).values
    keep = torch.zeros(slots * per_slot, dtype=torch.bool)
    keep[visible] = True
    masked = torch.nonzero(~keep).flatten()
    return TokenMask(visible=visible[None], masked=masked[None])


def flow_guided_mask(
    forward: Tensor,
    backward: Tensor,
    ratio: float,
    rng: random.Random,
    tubelet: int = 2,
    patch: int = 16,
    options: FlowMaskOptions | None = None,
) -> TokenMask:
    """MGMAE's mask of one clip from its flows ``forward``/``backward`` ``(T-1, 2, H, W)``
    (see the module docstring) on any device; all randomness from ``rng``. Returns a
    ``TokenMask`` of one clip on the CPU (``(1, N_vis)`` visible and ``(1, N_mask)`` masked
    raster indices, ascending)."""
    o = options or FlowMaskOptions()
    frames, _, height, width = forward.shape
    frames += 1
    grid = (height // patch, width // patch)
    per_slot = grid[0] * grid[1]
    count = visible_count(ratio, per_slot)
    generator = torch.Generator().manual_seed(rng.getrandbits(63))
    cells = torch.randperm(per_slot, generator=generator)[:count]
    start = initial_map(cells, grid, patch, o.init).to(forward.device)
    at = {"middle": frames // 2, "first": 0}.get(o.base)
    if at is None:
        at = int(torch.randint(frames, (1,), generator=generator))
    maps = propagate(start, forward.float(), backward.float(), at, o.holes)
    return keep_best(tube_scores(maps, tubelet, patch).cpu(), count, generator, o.exposure)


def view_seeds(rng: random.Random, views: int) -> list[int]:
    """One seed per view, from the sample's ``rng``: the loader and the device (RAFT) make
    the same masks from them."""
    return [rng.getrandbits(62) for _ in range(views)]


@dataclass(frozen=True)
class MGMAEMasks(PerSlotMasks):
    """The MGMAE masks of one sample's views over ``grid`` at ``ratio``, from each view's
    optical flow (``reads = "flow"``); ``options``: MGMAE's settings."""

    options: FlowMaskOptions = field(default_factory=FlowMaskOptions)
    reads: ClassVar[str | None] = "flow"

    def __call__(
        self, rng: random.Random, views: int, motion: Sequence[tuple[Tensor, Tensor]]
    ) -> TokenMask:
        """``(views, N_vis)`` / ``(views, N_mask)`` masks from ``motion``: each view's
        ``(forward, backward)`` flows ``(T-1, 2, S, S)``; one seed of ``rng`` per view."""
        return self.from_seeds(view_seeds(rng, views), motion)

    def from_seeds(self, seeds: Sequence[int], flows: Sequence[tuple[Tensor, Tensor]]) -> TokenMask:
        """The views' masks from their ``seeds`` (``view_seeds``) and flows, on the CPU."""
        if len(flows) != len(seeds):
            raise ValueError(f"MGMAE masks need the flows of each of the {len(seeds)} views")
        masks = []
        for (forward, backward), seed in zip(flows, seeds, strict=True):
            frames, size = forward.shape[0] + 1, forward.shape[-1]
            tubelet, patch = frames // self.grid[0], size // self.grid[1]
            masks.append(
                flow_guided_mask(
                    forward, backward, self.ratio, random.Random(seed), tubelet, patch, self.options
                )
            )
        return TokenMask.cat(masks)
