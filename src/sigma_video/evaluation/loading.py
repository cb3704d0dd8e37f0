"""Encoders for evaluation: from a run directory, a checkpoint, or ``random:PRESET``."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from sigma_video.config import TrainConfig, load_config
from sigma_video.engine.checkpoint import list_checkpoints, load_checkpoint
from sigma_video.models.encoder import VideoEncoder
from sigma_video.pretrainer import build_pretrainer


def encoder_for(config: TrainConfig, seed: int) -> VideoEncoder:
    model = config.model
    model = dataclasses.replace(
        model,
        num_frames=model.num_frames or config.data.num_frames,
        img_size=model.img_size or config.data.size,
    )
    torch.manual_seed(seed)
    return build_pretrainer(model).encoder


def load_encoder(source: str | Path, seed: int = 0) -> tuple[VideoEncoder, TrainConfig]:
    """``(encoder in eval mode, the run's config)``.

    ``source``: a run directory (its latest checkpoint), a checkpoint folder, or
    ``random:PRESET`` — that preset's encoder at random initialisation (seeded).
    """
    text = str(source)
    if text.startswith("random:"):
        config = load_config(text.split(":", 1)[1])
        return encoder_for(config, seed).eval(), config
    path = Path(text)
    if (path / "config.json").exists():
        run_dir, found = path, list_checkpoints(path)
        if not found:
            raise ValueError(f"run {path} has no checkpoint yet")
        checkpoint = found[-1]
    elif (path / "model.safetensors").exists():
        checkpoint, run_dir = path, path.parent.parent
    else:
        raise ValueError(f"{path} is neither a run directory nor a checkpoint folder")
    config = load_config(str(run_dir / "config.json"))
    encoder = encoder_for(config, seed)
    weights, _ = load_checkpoint(checkpoint)
    prefix = "encoder."
    state = {k[len(prefix) :]: v for k, v in weights.items() if k.startswith(prefix)}
    missing, unexpected = encoder.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(
            f"checkpoint {checkpoint} does not fit the encoder: missing {missing[:3]}, "
            f"unexpected {unexpected[:3]}"
        )
    return encoder.eval(), config
