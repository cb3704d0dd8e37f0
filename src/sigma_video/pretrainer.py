"""The pretraining model: encoder Ψ + decoder + target network φ + objective, composed.

``SigmaPretrainer`` takes its parts ready-made, so every variant of the paper is a choice of
parts: SIGMA-MLP (``MLPProjection`` + ``SigmaObjective``), SIGMA-DINO (``FrozenFeatures`` +
``SigmaObjective``), VideoMAE (``PixelTargets`` + ``L2Objective``) and the collapsing
deep-feature L2 ablation (``MLPProjection`` + ``L2Objective``). ``build_pretrainer`` makes
them from a ``PretrainerConfig``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from sigma_video.losses.objectives import L2Objective, SigmaObjective
from sigma_video.losses.sigma import check_sigma_options
from sigma_video.losses.sinkhorn import check_sinkhorn_options
from sigma_video.masks.builder import MASK_KINDS, batch_mask
from sigma_video.masks.mgmae import FlowMaskOptions
from sigma_video.masks.token_mask import TokenMask, check_ratio
from sigma_video.models.decoder import VideoDecoder
from sigma_video.models.encoder import VideoEncoder
from sigma_video.models.projection import (
    FROZEN_PRECISIONS,
    PROJECTION_PRESETS,
    FrozenFeatures,
    MLPProjection,
    PixelTargets,
)
from sigma_video.models.prototypes import Prototypes
from sigma_video.models.registry import decoder_config, encoder_config, list_models

TARGETS = ("mlp", "pixels", "dino")
OBJECTIVES = ("sigma", "l2")


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
        """Ψ: encode the visible tokens, decode the masked ones: ``(B, N_mask, D)``."""
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
        target = self.target(video, mask.masked)
        return self.objective(predicted, target)

    def after_backward(self, step: int) -> None:
        """Hook for the training loop, after ``backward``: drops the gradients of what is
        frozen at ``step`` (φ, the prototypes) so that the optimizer leaves it unchanged."""
        if step < self.freeze_target_steps:
            for parameter in self.target.parameters():
                parameter.grad = None
        self.objective.after_backward(step)

    def frozen_prefixes(self) -> tuple[str, ...]:
        """State-dict prefixes of frozen pretrained weights that checkpoints leave out (they
        are rebuilt from their own files, e.g. ``model.dino_weights``)."""
        return ("target.extractor.",) if isinstance(self.target, FrozenFeatures) else ()


@dataclass
class PretrainerConfig:
    """One pretraining variant; defaults are the released SIGMA-MLP recipe at ViT-B.

    ``target``: ``mlp`` (φ-MLP), ``pixels`` or ``dino`` (a frozen DINO ``dino_arch`` loaded
    from ``dino_weights`` — the official ``.pth``; ``"random"`` for tests and benchmarks —
    on the first frame of each tube, or the tube's mean frame with ``dino_frames="mean"``;
    ``dino_precision="fp32"`` computes its features outside the step's autocast, as the
    official code, ``"bf16"`` under it — faster on GPU, a few % of the hard codes differ);
    ``objective``: ``sigma`` or ``l2``.
    ``codes`` picks the hard (argmax of the Sinkhorn codes, released recipe, default) or the
    soft (paper Eq. 5) codes as the prediction targets.
    ``num_frames``/``img_size``/``patch``/``decoder_depth`` override the model preset when set
    (``patch`` is the tube's side in pixels: 16 in the paper, 8 in the CPU demo).
    ``freeze_prototypes_steps`` / ``freeze_target_steps`` keep the prototypes / φ fixed for
    the first steps (0, the reference, never; small-scale knobs measured in BENCHMARKS.md);
    ``freeze_target_epochs`` adds that many of the run's epochs to φ's (the demo: 1, its
    warm-up epoch, whatever the size of the data): ``pretrain`` sets the model's
    ``freeze_target_steps`` from ``target_freeze_steps`` once it knows the steps per epoch
    (a training loop of your own does the same; ``build_pretrainer`` alone counts the steps).
    ``mask``: ``tube`` (reference), ``random``, ``mgm`` (hide the tubes the codec's motion
    vectors say move most) or ``mgmae`` (keep visible the tubes a visibility map carried
    along optical flow reaches, MGMAE); ``flow`` (``dis`` in the loader workers, ``raft`` on
    the device from ``flow_weights``), ``flow_init``, ``flow_base``, ``flow_holes`` and
    ``flow_exposure`` are MGMAE's settings (``masks.mgmae``).
    """

    model: str = "vit_base"
    target: str = "mlp"
    objective: str = "sigma"
    projection: str = "reference"
    projection_dim: int = 256
    num_prototypes: int = 3000
    freeze_prototypes_steps: int = 0
    freeze_target_steps: int = 0
    freeze_target_epochs: float = 0.0
    temperature: float = 0.1
    epsilon: float = 0.05
    sinkhorn_iterations: int = 10
    codes: str = "hard"
    mask: str = "tube"
    mask_ratio: float = 0.9
    flow: str = "dis"
    flow_weights: str | None = None
    flow_init: str = "mix_gauss"
    flow_base: str = "middle"
    flow_holes: str = "consist"
    flow_exposure: bool = False
    num_frames: int | None = None
    img_size: int | None = None
    patch: int | None = None
    decoder_depth: int | None = None
    drop_path: float = 0.0
    grad_checkpointing: bool = False
    dino_arch: str = "dino_vitb16"
    dino_weights: str | None = None
    dino_frames: str = "first"
    dino_precision: str = "fp32"

    def __post_init__(self) -> None:
        choices = {
            "model": list_models(),
            "target": TARGETS,
            "objective": OBJECTIVES,
            "projection": sorted(PROJECTION_PRESETS),
            "mask": sorted(MASK_KINDS),
            "dino_precision": FROZEN_PRECISIONS,
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(
                    f"{name} must be one of {list(allowed)}, got {getattr(self, name)!r}"
                )
        check_ratio(self.mask_ratio, "mask_ratio")
        if self.freeze_target_steps < 0 or self.freeze_target_epochs < 0:
            raise ValueError(
                "freeze_target_steps and freeze_target_epochs must be >= 0, got "
                f"{self.freeze_target_steps} and {self.freeze_target_epochs}"
            )
        if self.num_prototypes < 2:
            raise ValueError(f"num_prototypes K must be >= 2, got {self.num_prototypes}")
        check_sigma_options(self.temperature, self.codes)
        check_sinkhorn_options(self.epsilon, self.sinkhorn_iterations)
        self.flow_options  # noqa: B018 - checks the names (the files: ``check_flow_source``)

    @property
    def flow_options(self) -> FlowMaskOptions:
        return FlowMaskOptions(
            self.flow,
            self.flow_weights,
            self.flow_init,
            self.flow_base,
            self.flow_holes,
            self.flow_exposure,
        )


def target_freeze_steps(config: PretrainerConfig, steps_per_epoch: int) -> int:
    """How many first optimizer steps keep φ fixed: ``freeze_target_steps`` plus
    ``freeze_target_epochs`` epochs of ``steps_per_epoch`` (rounded)."""
    return config.freeze_target_steps + round(config.freeze_target_epochs * steps_per_epoch)


def build_encoder(config: PretrainerConfig) -> VideoEncoder:
    """Ψ alone, as ``build_pretrainer`` makes it (first, so that for a given seed both give
    the same weights); no target network is built, so no DINO weights file is read."""
    clip = {
        k: v
        for k, v in {
            "num_frames": config.num_frames,
            "img_size": config.img_size,
            "patch": config.patch,
        }.items()
        if v is not None
    }
    enc_cfg = encoder_config(
        config.model,
        drop_path=config.drop_path,
        grad_checkpointing=config.grad_checkpointing,
        **clip,
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
        if config.target == "dino":
            target = build_dino_target(config, enc_cfg.tubelet, enc_cfg.patch)
        elif config.target == "mlp":
            hidden = PROJECTION_PRESETS[config.projection]
            target = MLPProjection(hidden, config.projection_dim, **shape)
        else:
            target = PixelTargets(**shape)
    depth = {} if config.decoder_depth is None else {"depth": config.decoder_depth}
    dec_cfg = decoder_config(
        config.model, out_dim=target.out_dim, grad_checkpointing=config.grad_checkpointing, **depth
    )
    if config.objective == "sigma":
        prototypes = Prototypes(
            config.num_prototypes, target.out_dim, config.freeze_prototypes_steps
        )
        objective: nn.Module = SigmaObjective(
            prototypes,
            config.temperature,
            config.epsilon,
            config.sinkhorn_iterations,
            config.codes,
        )
    else:
        objective = L2Objective()
    decoder = VideoDecoder(dec_cfg, enc_cfg.embed_dim)
    return SigmaPretrainer(encoder, decoder, target, objective, config.freeze_target_steps)


def build_dino_target(config: PretrainerConfig, tubelet: int, patch: int) -> FrozenFeatures:
    """φ = a frozen DINO over the tubes, its features standardised per video and channel."""
    from sigma_video.models.dino import DINO_PRESETS, ImageViT, TubeFeatures, load_image_vit

    if config.dino_weights is None:
        raise ValueError(
            "SIGMA-DINO needs model.dino_weights: the official DINO state dict, e.g. "
            "dino_vitb16_pretrain.pth (or 'random' for tests)"
        )
    if config.dino_arch not in DINO_PRESETS:
        raise ValueError(f"model.dino_arch must be one of {sorted(DINO_PRESETS)}")
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
    config: PretrainerConfig,
    model: SigmaPretrainer,
    video: Tensor,
    generator: torch.Generator | None = None,
) -> TokenMask:
    """A fresh mask of the configured kind and ratio for a clip batch, on its device: the
    kinds that read nothing of the clips (``tube``, ``random``); ``mgm`` and ``mgmae``
    raise ValueError (their masks come with each sample from the loader)."""
    grid = model.encoder.grid_of(video)
    return batch_mask(
        config.mask, len(video), grid, config.mask_ratio, generator=generator, device=video.device
    )
