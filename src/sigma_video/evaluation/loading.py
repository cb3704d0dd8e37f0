"""Deprecated: ``sigma_video.io.load_model`` returns ``(model, ClipSpec)``; these wrappers
keep the earlier ``(encoder, PretrainConfig)`` form working."""

from __future__ import annotations

from pathlib import Path

from sigma_video.config import load_config
from sigma_video.data.config import DataConfig
from sigma_video.io.load import (
    CLASSIFIER_FILE,
    ClipSpec,
    checkpoint_folder,
    converted_encoder,
    encoder_for,
    load_model,
    random_config,
    save_converted,
)
from sigma_video.io.official import official_classifier as reference_classifier
from sigma_video.models.classifier import VideoClassifier
from sigma_video.models.encoder import VideoEncoder
from sigma_video.pretraining.config import PretrainConfig

__all__ = [
    "clip_config",
    "converted_encoder",
    "encoder_for",
    "load_classifier",
    "load_encoder",
    "reference_classifier",
    "save_converted",
]


def load_encoder(
    source: str | Path, seed: int = 0, strict: bool = False
) -> tuple[VideoEncoder, PretrainConfig]:
    """``(encoder in eval mode, config)``: a pretraining run's own config, a preset's for
    ``random:``, otherwise a config carrying only the clip settings."""
    encoder, clip = load_model(source, "encoder", seed, strict)
    text = str(source)
    if text.startswith("random:"):
        return encoder, random_config(text.split(":", 1)[1])
    path = checkpoint_folder(Path(text))
    if path.is_dir():  # a pretraining run, or one of its checkpoint folders
        checkpoint = (path / "model.safetensors").exists() and (path / "state.pt").exists()
        run_dir = path.parent.parent if checkpoint else path
        saved = run_dir / "config.json"
        if saved.exists() and not (run_dir / CLASSIFIER_FILE).exists():
            return encoder, load_config(str(saved))
    return encoder, clip_config(clip)


def load_classifier(path: str | Path) -> tuple[VideoClassifier, dict]:
    """``(fine-tuned classifier in eval mode, clip settings as a dict)``."""
    model, clip = load_model(path, "classifier")
    return model, clip.as_dict()


def clip_config(clip: ClipSpec | dict) -> PretrainConfig:
    """A config carrying only the clip settings an encoder was trained with."""
    clip = clip if isinstance(clip, ClipSpec) else ClipSpec.of(clip)
    return PretrainConfig(data=DataConfig(**clip.as_dict()))
