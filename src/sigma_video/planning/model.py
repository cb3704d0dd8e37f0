"""A pretraining variant's sizes, read from the model built on the ``meta`` device (no
memory is allocated, so ViT-g plans on any machine): parameter counts per part and the
activation bytes one clip's training forward saves, part by part."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from sigma_video.masks.builder import MaskConfig, build_generator
from sigma_video.models.config import PretrainerConfig
from sigma_video.models.projection import MLPProjection
from sigma_video.planning import activations as act
from sigma_video.pretrainer import SigmaPretrainer, build_pretrainer


@dataclass(frozen=True)
class Tokens:
    """Tokens of one clip: all of them, the visible ones Ψ encodes, the masked ones, and
    of those the ones the decoder predicts (all of them without decoder masking)."""

    total: int
    visible: int
    masked: int
    predicted: int

    @property
    def decoded(self) -> int:
        """The decoder's sequence: the visible tokens and the predicted ones."""
        return self.visible + self.predicted


def meta_pretrainer(config: PretrainerConfig) -> SigmaPretrainer:
    """``build_pretrainer(config)`` with every tensor on the ``meta`` device; a DINO φ gets
    random weights (no file is read)."""
    if config.target.kind == "dino":
        from dataclasses import replace

        config = replace(config, target=replace(config.target, dino_weights="random"))
    with torch.device("meta"):
        return build_pretrainer(config)


def parameter_counts(model: SigmaPretrainer) -> dict[str, int]:
    """Parameters per part; ``frozen`` counts those that never train (a DINO φ)."""
    counts = {}
    for name in ("encoder", "decoder", "target", "objective"):
        part: nn.Module = getattr(model, name)
        counts[name] = sum(p.numel() for p in part.parameters() if p.requires_grad)
    counts["frozen"] = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    return counts


def trainable_count(counts: dict[str, int]) -> int:
    """The trained parameters of ``parameter_counts``: every part but the frozen ones."""
    return sum(v for k, v in counts.items() if k != "frozen")


def clip_tokens(model: SigmaPretrainer, mask: MaskConfig) -> Tokens:
    """The tokens of one clip of ``model`` under ``mask`` (over the encoder's grid)."""
    grid = model.encoder.config.grid
    total = grid[0] * grid[1] * grid[2]
    masked = build_generator(mask).num_masked
    return Tokens(total, total - masked, masked, mask.num_predicted)


def _blocks(blocks: nn.ModuleList, tokens: int, nbytes: int, checkpointing: bool) -> int:
    total = 0
    for block in blocks:
        dim, hidden = block.mlp.fc1.in_features, block.mlp.fc1.out_features
        if checkpointing:
            total += act.checkpointed_block_bytes(tokens, dim)
        else:
            total += act.block_bytes(tokens, dim, hidden, block.attn.num_heads, nbytes)
    return total


def recompute_bytes(model: SigmaPretrainer, tokens: Tokens, nbytes: int) -> int:
    """With checkpointing, the largest block's activations, live while it is recomputed."""
    sizes = [
        act.block_bytes(n, b.mlp.fc1.in_features, b.mlp.fc1.out_features, b.attn.num_heads, nbytes)
        for blocks, n in (
            (model.encoder.blocks, tokens.visible),
            (model.decoder.blocks, tokens.decoded),
        )
        for b in blocks
    ]
    return max(sizes)


def clip_activation_bytes(
    model: SigmaPretrainer, tokens: Tokens, nbytes: int, checkpointing: bool
) -> dict[str, int]:
    """Bytes one clip's forward saves for the backward pass, per part (``nbytes``: 2 under
    bf16 autocast, 4 in float32)."""
    enc, dec = model.encoder, model.decoder
    tube = enc.config.in_chans * enc.config.tubelet * enc.config.patch**2
    d_enc, d_dec = enc.config.embed_dim, dec.config.embed_dim
    parts = {
        "encoder": act.linear_bytes(tokens.visible, tube, nbytes)
        + _blocks(enc.blocks, tokens.visible, nbytes, checkpointing)
        + act.layer_norm_bytes(tokens.visible, d_enc),
        "decoder": act.linear_bytes(tokens.visible, d_enc, nbytes)
        + _blocks(dec.blocks, tokens.decoded, nbytes, checkpointing)
        + act.layer_norm_bytes(tokens.decoded, d_dec)  # the norm keeps the whole sequence
        + act.linear_bytes(tokens.predicted, d_dec, nbytes),
    }
    target = model.target
    if isinstance(target, MLPProjection):
        widths = [m.in_features for m in target.mlp if isinstance(m, nn.Linear)]
        parts["target"] = act.mlp_bytes(tokens.predicted, [*widths, target.out_dim], nbytes)
    else:
        parts["target"] = 0  # pixels, or a frozen extractor under no_grad
    prototypes = getattr(model.objective, "prototypes", None)
    if prototypes is not None:
        k, dim = prototypes.weight.shape
        parts["objective"] = act.prototype_score_bytes(tokens.predicted, dim, k)
    else:
        parts["objective"] = 2 * tokens.predicted * target.out_dim * act.FLOAT32
    return parts


def weight_cast_bytes(model: SigmaPretrainer) -> int:
    """The bf16 copies of the matrix-product weights that autocast keeps for the backward
    pass, once per micro-batch. A product whose input needs no gradient keeps none (the
    tube embedding and φ-MLP's first layer read pixels); the prototypes are scored in
    float32; a frozen φ runs without gradients."""
    parts = [model.encoder.blocks, model.decoder]
    if isinstance(model.target, MLPProjection):
        parts.append(model.target.mlp[1:])
    kinds = (nn.Linear, nn.Conv3d)
    return sum(2 * m.weight.numel() for p in parts for m in p.modules() if isinstance(m, kinds))
