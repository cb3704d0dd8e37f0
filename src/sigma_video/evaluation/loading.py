"""Encoders for evaluation: from a run directory, a checkpoint, or ``random:PRESET``."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import torch
from safetensors.torch import load_file

from sigma_video.config import DataConfig, TrainConfig, list_presets, load_config
from sigma_video.engine.checkpoint import list_checkpoints, load_checkpoint
from sigma_video.files import save_tensors
from sigma_video.finetuning.model import (
    CLASSIFIER_FILE,
    VideoClassifier,
    classifier_from_config,
    load_classifier_meta,
)
from sigma_video.interop.huggingface import import_videomae, is_videomae_folder
from sigma_video.interop.reference import load_weights, read_checkpoint, reference_encoder
from sigma_video.models.encoder import EncoderConfig, VideoEncoder
from sigma_video.models.registry import list_models
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


def load_encoder(
    source: str | Path, seed: int = 0, strict: bool = False
) -> tuple[VideoEncoder, TrainConfig]:
    """``(encoder in eval mode, the run's config)``.

    ``source``: a run directory (its latest checkpoint), a checkpoint folder, a converted
    encoder folder (``sigma-video convert``), a Hugging Face VideoMAE folder, a reference
    SIGMA/VideoMAE checkpoint file (pretraining or fine-tuning; loaded without running
    pickled code), or ``random:NAME`` — a preset's (``sigma-video presets``) or a model's
    (``sigma-video models``, 16×224² clips) encoder at random initialisation (seeded).
    ``strict`` also refuses unexpected extra keys (missing keys and shape mismatches always
    refuse).
    """
    text = str(source)
    if text.startswith("random:"):
        name = text.split(":", 1)[1]
        model = name in list_models() and name not in list_presets()
        config = load_config(None, [f"model.model={name}"]) if model else load_config(name)
        return encoder_for(config, seed).eval(), config
    path = _checkpoint_folder(Path(text))
    if path.is_file():
        encoder, clip = reference_encoder(path, strict)
        return encoder, clip_config(clip)
    if (path / "encoder.safetensors").exists():
        return converted_encoder(path)
    if is_videomae_folder(path):
        encoder, clip = import_videomae(path)
        return encoder, clip_config(clip)
    if (path / CLASSIFIER_FILE).exists() or (path.parent.parent / CLASSIFIER_FILE).exists():
        classifier, clip = load_classifier(path)
        return classifier.encoder, clip_config(clip)
    if (path / "config.json").exists():
        run_dir, found = path, list_checkpoints(path)
        if not found:
            raise ValueError(f"run {path} has no checkpoint yet")
        checkpoint = found[-1]
    elif (path / "model.safetensors").exists():
        checkpoint, run_dir = path, path.parent.parent
    else:
        raise ValueError(
            f"{path} is neither a run directory, a checkpoint folder nor a checkpoint file"
        )
    config = load_config(str(run_dir / "config.json"))
    encoder = encoder_for(config, seed)
    weights, _ = load_checkpoint(checkpoint)
    prefix = "encoder."
    state = {k[len(prefix) :]: v for k, v in weights.items() if k.startswith(prefix)}
    load_weights(encoder, state, str(checkpoint), strict=True)
    return encoder.eval(), config


def load_classifier(path: str | Path) -> tuple[VideoClassifier, dict]:
    """``(fine-tuned classifier in eval mode, clip settings)`` of a fine-tuning run dir
    (its latest checkpoint), one of its checkpoint folders, or a reference SIGMA/VideoMAE
    fine-tuning checkpoint file (encoder + ``fc_norm`` + ``head``; no pickled code runs)."""
    path = _checkpoint_folder(Path(path))
    if path.is_file():
        return reference_classifier(path)
    run_dir, checkpoint = path, None
    if not (path / CLASSIFIER_FILE).exists():
        run_dir, checkpoint = path.parent.parent, path
        if not (run_dir / CLASSIFIER_FILE).exists():
            raise ValueError(
                f"{path} is neither a fine-tuning run, one of its checkpoints, nor a "
                "fine-tuned .pth (a pretraining run has no classifier: fine-tune it first)"
            )
    meta = load_classifier_meta(run_dir)
    if checkpoint is None:
        found = list_checkpoints(run_dir)
        if not found:
            raise ValueError(f"run {run_dir} has no checkpoint yet")
        checkpoint = found[-1]
    model = classifier_from_config(meta["encoder"], meta["num_classes"], meta["head_dropout"])
    weights, _ = load_checkpoint(checkpoint)
    load_weights(model, weights, str(checkpoint), strict=True)
    return model.eval(), meta["clip"]


def _checkpoint_folder(path: Path) -> Path:
    """A checkpoint's ``model.safetensors`` stands for its folder (which knows its run)."""
    if path.is_file() and path.name == "model.safetensors" and (path.parent / "state.pt").exists():
        return path.parent
    return path


def reference_classifier(path: Path) -> tuple[VideoClassifier, dict]:
    """A reference fine-tuned model: its encoder and its classification ``head``."""
    encoder, clip = reference_encoder(path)
    state, _ = read_checkpoint(path)
    if "head.weight" not in state or "head.bias" not in state:
        raise ValueError(f"{path} has no classifier head (head.weight): not a fine-tuned model")
    weight, bias = state["head.weight"], state["head.bias"]
    if weight.ndim != 2 or weight.shape[1] != encoder.embed_dim or bias.shape != weight.shape[:1]:
        raise ValueError(
            f"{path}: head {tuple(weight.shape)} does not fit the {encoder.embed_dim}-wide encoder"
        )
    model = VideoClassifier(encoder, weight.shape[0])
    with torch.no_grad():
        model.head.weight.copy_(weight)
        model.head.bias.copy_(bias)
    return model.eval(), clip


def clip_config(clip: dict) -> TrainConfig:
    """A config carrying only the clip settings an encoder was trained with."""
    return TrainConfig(data=DataConfig(**clip))


def save_converted(encoder: VideoEncoder, clip: dict, folder: str | Path) -> Path:
    """``folder/encoder.safetensors`` + ``encoder.json`` (shape and clip settings)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous() for k, v in encoder.state_dict().items()}
    save_tensors(state, folder / "encoder.safetensors")
    meta = {"encoder": dataclasses.asdict(encoder.config), "clip": clip}
    (folder / "encoder.json").write_text(json.dumps(meta, indent=2) + "\n")
    return folder


def converted_encoder(folder: Path) -> tuple[VideoEncoder, TrainConfig]:
    meta = json.loads((folder / "encoder.json").read_text())
    encoder = VideoEncoder(EncoderConfig(**meta["encoder"]))
    load_weights(encoder, load_file(str(folder / "encoder.safetensors")), str(folder), strict=True)
    return encoder.eval(), clip_config(meta["clip"])
