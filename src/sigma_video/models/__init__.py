"""Model architectures: the video ViT encoder, the decoder, target networks, prototypes."""

from sigma_video.models.decoder import DecoderConfig, VideoDecoder
from sigma_video.models.encoder import EncoderConfig, VideoEncoder
from sigma_video.models.projection import (
    PROJECTION_PRESETS,
    FrozenFeatures,
    MLPProjection,
    PixelTargets,
)
from sigma_video.models.prototypes import Prototypes
from sigma_video.models.registry import (
    ModelPreset,
    create_decoder,
    create_encoder,
    decoder_config,
    encoder_config,
    list_models,
    model_preset,
    register_model,
)

__all__ = [
    "PROJECTION_PRESETS",
    "DecoderConfig",
    "EncoderConfig",
    "FrozenFeatures",
    "MLPProjection",
    "ModelPreset",
    "PixelTargets",
    "Prototypes",
    "VideoDecoder",
    "VideoEncoder",
    "create_decoder",
    "create_encoder",
    "decoder_config",
    "encoder_config",
    "list_models",
    "model_preset",
    "register_model",
]
