"""The memory of one GPU during a pretraining step, for DDP and FSDP2 with and without
activation checkpointing, and the largest micro-batch that fits.

Weights and AdamW state are float32 (4 + 4 + 8 bytes per trainable parameter, and 4 for
the gradient). DDP holds all of them on every GPU, plus its gradient buckets (4 bytes per
parameter) and autocast's bf16 weight copies. FSDP2 (``MixedPrecisionPolicy(param_dtype=
bf16, reduce_dtype=fp32)``, one unit per block) holds 1/``gpus`` of them, plus the blocks in
flight: two blocks' gathered bf16 weights (the current and the prefetched one) and two
blocks' unsharded float32 gradients before their reduce-scatter. A frozen DINO φ is float32
on every GPU. Per clip: the activations the forward saves (``planning.model``), Sinkhorn's
three float32 ``M × K`` working matrices per branch and, with checkpointing, the largest
block's recomputed activations. ``RESERVE`` covers the CUDA context and the allocator's
fragmentation.
"""

from __future__ import annotations

from dataclasses import dataclass

from sigma_video.masks.builder import MaskSettings
from sigma_video.models.config import PretrainerConfig
from sigma_video.planning.activations import FLOAT32
from sigma_video.planning.model import (
    clip_activation_bytes,
    clip_tokens,
    meta_pretrainer,
    parameter_counts,
    recompute_bytes,
    trainable_count,
    weight_cast_bytes,
)
from sigma_video.pretraining.config import PARALLEL

GIB = 2**30
RESERVE = 2 * GIB


@dataclass(frozen=True)
class MemoryPlan:
    """One setup's bytes per GPU: ``fixed`` whatever the batch, ``per_clip`` for each clip
    of the micro-batch, and the parts they add up from."""

    parallel: str
    checkpointing: bool
    fixed: dict[str, int]
    per_clip: dict[str, int]
    gpu_memory: int

    @property
    def fixed_bytes(self) -> int:
        return sum(self.fixed.values())

    @property
    def clip_bytes(self) -> int:
        return sum(self.per_clip.values())

    def total(self, batch: int) -> int:
        """Bytes per GPU at a micro-batch of ``batch`` clips."""
        return self.fixed_bytes + batch * self.clip_bytes

    @property
    def max_batch(self) -> int:
        """The largest micro-batch that fits (0: not even the weights fit)."""
        free = self.gpu_memory - self.fixed_bytes
        return max(free // self.clip_bytes, 0)


def _largest_block(model) -> int:
    blocks = [*model.encoder.blocks, *model.decoder.blocks]
    return max(sum(p.numel() for p in b.parameters()) for b in blocks)


def plan_memory(
    model_config: PretrainerConfig,
    mask: MaskSettings,
    gpus: int,
    gpu_memory_gib: float,
    bf16: bool = True,
) -> list[MemoryPlan]:
    """Every setup of ``PARALLEL`` × checkpointing off/on for this variant on ``gpus`` GPUs
    of ``gpu_memory_gib`` GiB; ``bf16``: autocast (the GPU default) or float32."""
    if gpus < 1 or gpu_memory_gib <= 0:
        raise ValueError(f"need gpus >= 1 and gpu memory > 0, got {gpus} and {gpu_memory_gib}")
    model = meta_pretrainer(model_config)
    counts = parameter_counts(model)
    trainable = trainable_count(counts)
    tokens = clip_tokens(model, mask.on(model.encoder.config.grid))
    nbytes = 2 if bf16 else FLOAT32
    prototypes = getattr(model.objective, "prototypes", None)
    k = prototypes.weight.shape[0] if prototypes is not None else 0
    sinkhorn = 2 * 3 * tokens.predicted * k * FLOAT32
    block = _largest_block(model)
    plans = []
    for parallel in PARALLEL:
        shards = gpus if parallel == "fsdp" else 1
        fixed = {
            "weights": FLOAT32 * trainable // shards,
            "gradients": FLOAT32 * trainable // shards,
            "optimizer": 2 * FLOAT32 * trainable // shards,
            "frozen": FLOAT32 * counts["frozen"],
            "reserve": RESERVE,
        }
        if parallel == "ddp":
            fixed["buckets"] = FLOAT32 * trainable if gpus > 1 else 0
            fixed["casts"] = weight_cast_bytes(model) if bf16 else 0
        else:
            fixed["in_flight"] = 2 * block * (nbytes + FLOAT32)
        for checkpointing in (False, True):
            per_clip = clip_activation_bytes(model, tokens, nbytes, checkpointing)
            per_clip["sinkhorn"] = sinkhorn
            if checkpointing:
                per_clip["recompute"] = recompute_bytes(model, tokens, nbytes)
            memory = int(gpu_memory_gib * GIB)
            plans.append(MemoryPlan(parallel, checkpointing, dict(fixed), per_clip, memory))
    return plans


def model_summary(model_config: PretrainerConfig, mask: MaskSettings) -> dict[str, int]:
    """Parameter counts per part (and ``trainable``, their sum without the frozen ones) and
    the tokens of one clip."""
    model = meta_pretrainer(model_config)
    tokens = clip_tokens(model, mask.on(model.encoder.config.grid))
    counts = parameter_counts(model)
    return {
        **counts,
        "trainable": trainable_count(counts),
        "tokens": tokens.total,
        "visible": tokens.visible,
        "masked": tokens.masked,
        "predicted": tokens.predicted,
    }
