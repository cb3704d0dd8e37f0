"""Deprecated: ``sigma_video.io.load_model`` returns ``(model, ClipSpec)``; these wrappers
keep the earlier ``(encoder, TrainConfig)`` form working."""

from __future__ import annotations

from pathlib import Path

from sigma_video.config import load_config
from sigma_video.data.config import DataConfig
from sigma_video.engine.config import TrainConfig
from sigma_video.io.load import (
    CLASSIFIER_FILE,
    ClipSpec,
    checkpoint_folder,
    encoder_for,
    load_model,
    random_config,
)
from sigma_video.models.classifier import VideoClassifier
from sigma_video.models.encoder import VideoEncoder

__all__ = ["clip_config", "encoder_for", "load_classifier", "load_encoder"]


def load_encoder(
    source: str | Path, seed: int = 0, strict: bool = False
) -> tuple[VideoEncoder, TrainConfig]:
    """``(encoder in eval mode, config)``: a pretraining run's own config, a preset's for
    ``random:``, otherwise a config carrying only the clip settings."""
    encoder, clip = load_model(source, "encoder", seed, strict)
    text = str(source)
    if text.startswith("random:"):
        return encoder, random_config(text.split(":", 1)[1])
    path = checkpoint_folder(Path(text))
    for run_dir in (path, path.parent.parent):
        pretraining = not (run_dir / CLASSIFIER_FILE).exists()
        if (
            pretraining
            and (run_dir / "config.json").exists()
            and (run_dir / "checkpoints").is_dir()
        ):
            return encoder, load_config(str(run_dir / "config.json"))
    return encoder, clip_config(clip)


def load_classifier(path: str | Path) -> tuple[VideoClassifier, dict]:
    """``(fine-tuned classifier in eval mode, clip settings as a dict)``."""
    model, clip = load_model(path, "classifier")
    return model, clip.as_dict()


def clip_config(clip: ClipSpec | dict) -> TrainConfig:
    """A config carrying only the clip settings an encoder was trained with."""
    clip = clip if isinstance(clip, ClipSpec) else ClipSpec.of(clip)
    return TrainConfig(data=DataConfig(**clip.as_dict()))
