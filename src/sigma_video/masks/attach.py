"""Where masks meet samples: in the process that loads a sample (a loader worker), after
the dataset has decoded and cut its views, from the sample's own RNG — so a sample's masks
are a pure function of ``(seed, epoch, index)`` whichever worker loads it."""

from __future__ import annotations

import random
from typing import Any, ClassVar, Protocol

from torch import Tensor

from sigma_video.flow.sources import FlowSettings, FlowSource, make_flow_source
from sigma_video.masks.dual import DecoderMasks
from sigma_video.masks.mgmae import view_seeds
from sigma_video.masks.token_mask import TokenMask


class MaskGenerator(Protocol):
    """One mask kind over a token grid (``TubeMasks``, ``RandomMasks``, ``MGMMasks``,
    ``MGMAEMasks``): ``generator(rng, views, motion)`` makes the masks of one sample's
    ``views`` from the sample's RNG and what ``reads`` names of each view (None: nothing;
    ``"codec"``: its codec motion map; ``"flow"``: its optical flow); ``num_masked`` is the
    masked tokens per clip."""

    reads: ClassVar[str | None]

    @property
    def num_masked(self) -> int: ...

    def __call__(self, rng: random.Random, views: int, motion: Any = None) -> TokenMask: ...


class SampleMasks:
    """``masks(rng, views, frames, motion) -> dict`` of the sample's mask fields.

    ``generator`` makes the masks of the ``views`` from what it reads of the clip
    (``generator.reads``): each view's codec motion map (``"codec"``: ``motion``; a clip
    without any gets ``fallback``'s masks and is marked ``without_motion``) or the optical
    flow of each view's ``frames``, computed here from ``flow``'s source (``"flow"``).
    ``deferred``: the training step makes the masks on its device (``masks.device``); only
    the views' seeds travel with the sample (``mask_seed``). ``decoder``: decoder masking,
    drawn after the masks (so it changes none of their draws).
    """

    def __init__(
        self,
        generator: MaskGenerator,
        fallback: MaskGenerator | None = None,
        flow: FlowSettings | None = None,
        deferred: bool = False,
        decoder: DecoderMasks | None = None,
    ) -> None:
        self.generator, self.fallback, self.flow = generator, fallback, flow
        self.deferred, self.decoder = deferred, decoder
        self._flow_source: FlowSource | None = None

    @property
    def reads_codec(self) -> bool:
        """Each sample must bring its views' codec motion (decoded with motion vectors)."""
        return not self.deferred and self.generator.reads == "codec"

    def __call__(
        self,
        rng: random.Random,
        views: int,
        frames: Tensor | None = None,
        motion: Tensor | None = None,
    ) -> dict[str, Any]:
        """The fields of one sample: ``mask`` (a ``TokenMask`` of ``(views, N_vis)`` and
        ``(views, N_mask)`` indices; None when ``deferred``), ``without_motion`` and, when
        deferred, ``mask_seed`` (one seed per view).

        ``frames``: the views ``uint8 (views, 3, T, S, S)`` as cut, before any
        augmentation; ``motion``: each view's codec motion ``float32 (views, T, S, S)``,
        or None (a clip without motion vectors)."""
        if self.deferred:
            return {"mask": None, "mask_seed": view_seeds(rng, views)}
        reads = self.generator.reads
        fields: dict[str, Any] = {}
        if reads == "codec" and motion is None:
            mask = self.fallback(rng, views)
            fields["without_motion"] = True
        else:
            if reads == "flow":
                if frames is None:
                    raise ValueError("flow-guided masks need the views' frames in the loader")
                motion = [self.flow_of(view) for view in frames]
            mask = self.generator(rng, views, motion)
        if self.decoder is not None:
            mask = self.decoder(mask, view_seeds(rng, views))
        return {"mask": mask, **fields}

    def flow_of(self, view: Tensor) -> tuple[Tensor, Tensor]:
        """The forward and backward flows ``(T-1, 2, S, S)`` of a view ``uint8 (3, T, S, S)``
        (the source is made in the process that first needs it: a loader worker)."""
        if self._flow_source is None:
            self._flow_source = make_flow_source(self.flow)  # type: ignore[arg-type]
        return self._flow_source(view.permute(1, 2, 3, 0).numpy())
