"""The pretraining model: encoder Ψ + decoder + target network φ + objective, composed.

``SigmaPretrainer`` takes its parts ready-made, so every variant of the paper is a choice of
parts: SIGMA-MLP (``MLPProjection`` + ``SigmaObjective``), SIGMA-DINO (``FrozenFeatures`` +
``SigmaObjective``), VideoMAE (``PixelTargets`` + ``L2Objective``) and the collapsing
deep-feature L2 ablation (``MLPProjection`` + ``L2Objective``). ``build_pretrainer`` makes
them from a ``PretrainerConfig``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from sigma_video.losses.objectives import L2Objective, SigmaObjective
from sigma_video.masks.builder import MaskSettings, batch_mask
from sigma_video.masks.dual import DecoderMasks
from sigma_video.masks.token_mask import TokenMask
from sigma_video.models.config import PretrainerConfig, TargetSettings
from sigma_video.models.decoder import VideoDecoder
from sigma_video.models.encoder import VideoEncoder
from sigma_video.models.projection import (
    PROJECTION_PRESETS,
    FrozenFeatures,
    MLPProjection,
    PixelTargets,
)
from sigma_video.models.prototypes import Prototypes
from sigma_video.models.registry import decoder_config, encoder_config


class SigmaPretrainer(nn.Module):
    """Masked video modelling with a pluggable target network and objective.

    Args:
        encoder: the video model Ψ's encoder.
        decoder: predicts ``target.out_dim`` values for each masked tube.
        target: target network φ, ``(video, masked) -> (B, N_mask, D)``.
        objective: ``(predicted, target) -> (loss, metrics)``.
        freeze_target_steps: keep φ's own weights fixed for the first steps (its gradients
            are dropped by ``after_backward``): Ψ first learns to predict the codes of the
            randomly initialised φ, which carry the tubes' content, before φ trains on Ψ's
            codes. 0 (the reference) trains φ from the first step.
    """

    def __init__(
        self,
        encoder: VideoEncoder,
        decoder: VideoDecoder,
        target: nn.Module,
        objective: nn.Module,
        freeze_target_steps: int = 0,
    ) -> None:
        super().__init__()
        if decoder.config.out_dim != target.out_dim:
            raise ValueError(
                f"decoder out_dim {decoder.config.out_dim} != target network width {target.out_dim}"
            )
        if freeze_target_steps < 0:
            raise ValueError(f"freeze_target_steps must be >= 0, got {freeze_target_steps}")
        self.encoder, self.decoder = encoder, decoder
        self.target, self.objective = target, objective
        self.freeze_target_steps = freeze_target_steps

    def forward_prediction(self, video: Tensor, mask: TokenMask) -> Tensor:
        """Ψ: encode the visible tokens, decode the predicted ones: ``(B, N_pred, D)``."""
        grid = self.encoder.grid_of(video)
        if mask.num_tokens != grid[0] * grid[1] * grid[2] or mask.masked.shape[0] != len(video):
            raise ValueError(
                f"mask of {mask.masked.shape[0]}×{mask.num_tokens} tokens does not fit clips "
                f"{tuple(video.shape)} with token grid {grid}"
            )
        encoded = self.encoder.forward_features(video, mask.visible)  # (B, N_vis, D_enc)
        return self.decoder(encoded, mask)

    def forward(self, video: Tensor, mask: TokenMask) -> tuple[Tensor, dict[str, Tensor]]:
        """Loss and detached scalar metrics for clips ``(B, C, T, H, W)`` and their mask."""
        predicted = self.forward_prediction(video, mask)
        target = self.target(video, mask.predicted)
        return self.objective(predicted, target)

    def after_backward(self, step: int) -> None:
        """Hook for the training loop, after ``backward``: drops the gradients of what is
        frozen at ``step`` (φ, the prototypes) so that the optimizer leaves it unchanged."""
        if step < self.freeze_target_steps:
            for parameter in self.target.parameters():
                parameter.grad = None
        self.objective.after_backward(step)

    def shard_units(self) -> list[nn.Module]:
        """FSDP2's units (``engine.parallel``): each transformer block of Ψ and of the
        decoder; the rest (embeddings, norms, heads, φ-MLP, prototypes) goes with the
        root."""
        return [*self.encoder.blocks, *self.decoder.blocks]

    def before_sharded_forward(self) -> None:
        """Under FSDP2 the prototypes are normalised on their shards before the forward:
        inside it they are a gathered copy whose in-place normalisation FSDP2 drops (each
        shard holds whole rows, so normalising a shard is exact)."""
        prototypes = getattr(self.objective, "prototypes", None)
        if prototypes is not None:
            prototypes.normalize_()

    def frozen_prefixes(self) -> tuple[str, ...]:
        """State-dict prefixes of frozen pretrained weights that checkpoints leave out (they
        are rebuilt from their own files, e.g. ``model.target.dino_weights``)."""
        return ("target.extractor.",) if isinstance(self.target, FrozenFeatures) else ()


def build_encoder(config: PretrainerConfig) -> VideoEncoder:
    """Ψ alone, as ``build_pretrainer`` makes it (first, so that for a given seed both give
    the same weights); no target network is built, so no DINO weights file is read."""
    e = config.encoder
    clip = {"num_frames": e.num_frames, "img_size": e.img_size, "patch": e.patch}
    enc_cfg = encoder_config(
        config.arch,
        drop_path=e.drop_path,
        grad_checkpointing=config.grad_checkpointing,
        **{k: v for k, v in clip.items() if v is not None},
    )
    return VideoEncoder(enc_cfg)


def build_pretrainer(config: PretrainerConfig, target: nn.Module | None = None) -> SigmaPretrainer:
    """Build the variant described by ``config``.

    ``target`` replaces the configured target network (e.g. ``FrozenFeatures`` around a DINO
    model for SIGMA-DINO); the decoder's and prototypes' width follows ``target.out_dim``.
    """
    # The encoder first: for a given seed every variant starts from the same encoder weights.
    encoder = build_encoder(config)
    enc_cfg = encoder.config
    if target is None:
        shape = {"tubelet": enc_cfg.tubelet, "patch": enc_cfg.patch, "in_chans": enc_cfg.in_chans}
        if config.target.kind == "dino":
            target = build_dino_target(config.target, enc_cfg.tubelet, enc_cfg.patch)
        elif config.target.kind == "mlp":
            hidden = PROJECTION_PRESETS[config.target.projection]
            target = MLPProjection(hidden, config.target.dim, **shape)
        else:
            target = PixelTargets(**shape)
    depth = {} if config.decoder.depth is None else {"depth": config.decoder.depth}
    dec_cfg = decoder_config(
        config.arch, out_dim=target.out_dim, grad_checkpointing=config.grad_checkpointing, **depth
    )
    o = config.objective
    if o.kind == "sigma":
        prototypes = Prototypes(o.num_prototypes, target.out_dim, o.freeze_prototypes_steps)
        objective: nn.Module = SigmaObjective(
            prototypes, o.temperature, o.epsilon, o.sinkhorn_iterations, o.codes
        )
    else:
        objective = L2Objective()
    decoder = VideoDecoder(dec_cfg, enc_cfg.embed_dim)
    return SigmaPretrainer(encoder, decoder, target, objective, config.target.freeze_steps)


def build_dino_target(config: TargetSettings, tubelet: int, patch: int) -> FrozenFeatures:
    """φ = a frozen DINO over the tubes, its features standardised per video and channel."""
    from sigma_video.models.dino import DINO_PRESETS, ImageViT, TubeFeatures, load_image_vit

    if config.dino_weights is None:
        raise ValueError(
            "SIGMA-DINO needs model.target.dino_weights: the official DINO state dict, e.g. "
            "dino_vitb16_pretrain.pth (or 'random' for tests)"
        )
    if config.dino_arch not in DINO_PRESETS:
        raise ValueError(f"model.target.dino_arch must be one of {sorted(DINO_PRESETS)}")
    if config.dino_weights == "random":
        image_model = ImageViT(DINO_PRESETS[config.dino_arch])
    else:
        image_model = load_image_vit(config.dino_weights, config.dino_arch)
    extractor = TubeFeatures(image_model, tubelet, config.dino_frames, patch)
    width = image_model.config.embed_dim
    return FrozenFeatures(
        extractor, width, tubelet=tubelet, patch=patch, precision=config.dino_precision
    )


def sample_mask(
    mask: MaskSettings,
    model: SigmaPretrainer,
    video: Tensor,
    generator: torch.Generator | None = None,
) -> TokenMask:
    """A fresh mask of ``mask``'s kind and ratio (and decoder masking) for a clip batch, on
    its device: the kinds that read nothing of the clips (``tube``, ``random``); ``mgm``
    and ``mgmae`` raise ValueError (their masks come with each sample from the loader)."""
    grid = model.encoder.grid_of(video)
    drawn = batch_mask(
        mask.kind, len(video), grid, mask.ratio, generator=generator, device=video.device
    )
    if not mask.decoder_ratio:
        return drawn
    on = generator.device if generator is not None else video.device
    seeds = torch.randint(2**62, (len(video),), generator=generator, device=on).tolist()
    return DecoderMasks(grid, mask.decoder_ratio)(drawn, seeds)
