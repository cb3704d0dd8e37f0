"""Named model presets, registered explicitly: ``vit_tiny``, ``vit_small``, ``vit_base``,
``vit_large``, ``vit_huge``, ``vit_giant``. A preset is an encoder shape plus the matching
decoder shape."""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sigma_video.models.decoder import DecoderConfig, VideoDecoder
from sigma_video.models.encoder import EncoderConfig, VideoEncoder


@dataclass(frozen=True)
class ModelPreset:
    encoder: EncoderConfig
    decoder: DecoderConfig


_REGISTRY: dict[str, Callable[[], ModelPreset]] = {}


def register_model(name: str) -> Callable[[Callable[[], ModelPreset]], Callable[[], ModelPreset]]:
    """Decorator registering a preset factory under ``name``."""

    def wrap(factory: Callable[[], ModelPreset]) -> Callable[[], ModelPreset]:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is already registered")
        _REGISTRY[name] = factory
        return factory

    return wrap


def list_models() -> list[str]:
    return sorted(_REGISTRY)


def model_preset(name: str) -> ModelPreset:
    """The preset called ``name``; ValueError naming the registered ones otherwise."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; registered models: {', '.join(list_models())}")
    return _REGISTRY[name]()


def _replace(config: Any, overrides: dict[str, Any], what: str) -> Any:
    fields = [f.name for f in dataclasses.fields(config)]
    for key in overrides:
        if key not in fields:
            close = difflib.get_close_matches(key, fields, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"valid: {', '.join(fields)}"
            raise ValueError(f"unknown {what} option {key!r}; {hint}")
    return dataclasses.replace(config, **overrides)


def encoder_config(name: str, **overrides: Any) -> EncoderConfig:
    return _replace(model_preset(name).encoder, overrides, "encoder")


def decoder_config(name: str, **overrides: Any) -> DecoderConfig:
    return _replace(model_preset(name).decoder, overrides, "decoder")


def create_encoder(name: str, **overrides: Any) -> VideoEncoder:
    """Build a registered encoder, e.g. ``create_encoder("vit_base", drop_path=0.1)``."""
    return VideoEncoder(encoder_config(name, **overrides))


def create_decoder(name: str, encoder_dim: int | None = None, **overrides: Any) -> VideoDecoder:
    """Build the decoder of a registered preset (``out_dim`` is usually overridden)."""
    preset = model_preset(name)
    dim = preset.encoder.embed_dim if encoder_dim is None else encoder_dim
    return VideoDecoder(decoder_config(name, **overrides), dim)


@register_model("vit_tiny")
def vit_tiny() -> ModelPreset:
    """192 wide, 4 blocks: for tests and the CPU demo (8×64² clips by default)."""
    return ModelPreset(
        EncoderConfig(embed_dim=192, depth=4, num_heads=3, num_frames=8, img_size=64),
        DecoderConfig(embed_dim=96, depth=2, num_heads=3),
    )


@register_model("vit_small")
def vit_small() -> ModelPreset:
    return ModelPreset(
        EncoderConfig(embed_dim=384, depth=12, num_heads=6),
        DecoderConfig(embed_dim=192, depth=4, num_heads=3),
    )


@register_model("vit_base")
def vit_base() -> ModelPreset:
    return ModelPreset(
        EncoderConfig(embed_dim=768, depth=12, num_heads=12),
        DecoderConfig(embed_dim=384, depth=4, num_heads=6),
    )


@register_model("vit_large")
def vit_large() -> ModelPreset:
    return ModelPreset(
        EncoderConfig(embed_dim=1024, depth=24, num_heads=16),
        DecoderConfig(embed_dim=512, depth=4, num_heads=8),
    )


@register_model("vit_huge")
def vit_huge() -> ModelPreset:
    """VideoMAE's ViT-H/16 (632 M parameters) and its pretraining decoder (640 wide)."""
    return ModelPreset(
        EncoderConfig(embed_dim=1280, depth=32, num_heads=16),
        DecoderConfig(embed_dim=640, depth=4, num_heads=8),
    )


@register_model("vit_giant")
def vit_giant() -> ModelPreset:
    """VideoMAE V2's ViT-g/14 (1.01 B parameters): 1408 wide, 40 blocks, MLP ratio 48/11
    (6144 hidden), 14-pixel tubes; its decoder is 512 wide with the same MLP ratio."""
    return ModelPreset(
        EncoderConfig(embed_dim=1408, depth=40, num_heads=16, mlp_ratio=48 / 11, patch=14),
        DecoderConfig(embed_dim=512, depth=4, num_heads=8, mlp_ratio=48 / 11),
    )
