"""The official SIGMA/VideoMAE checkpoint files (``torch.save({"model", "optimizer", "epoch",
"scaler", "args"})`` with an ``argparse.Namespace`` in ``args``), read without running
pickled code: ``torch.load(weights_only=True)`` with only ``argparse.Namespace`` allowed."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import torch
from torch import Tensor

from sigma_video.files import safe_torch_load
from sigma_video.io.keys import encoder_weights
from sigma_video.layers import resample_table
from sigma_video.models.classifier import VideoClassifier
from sigma_video.models.encoder import EncoderConfig, VideoEncoder
from sigma_video.state_dict import check_fit, strip_prefixes

# the clip settings' names in the official ``args``
CLIP_ARGS = {"num_frames": "num_frames", "stride": "sampling_rate", "size": "input_size"}
CLIP_DEFAULTS = {"num_frames": 16, "stride": 4, "size": 224}


def read_checkpoint(path: str | Path) -> tuple[dict[str, Tensor], dict]:
    """``(weights, args)``: the model state dict (prefixes removed) and the official
    ``args`` namespace as a dict (empty when absent)."""
    blob = safe_torch_load(path, "checkpoint", allowed=(argparse.Namespace,))
    args = blob.get("args") if isinstance(blob, dict) else None
    args = vars(args) if isinstance(args, argparse.Namespace) else {}
    for key in ("model", "module", "state_dict", "model_state"):
        if isinstance(blob, dict) and isinstance(blob.get(key), dict):
            blob = blob[key]
            break
    if not isinstance(blob, dict) or not all(isinstance(v, Tensor) for v in blob.values()):
        raise ValueError(f"{path} holds no state dict of tensors")
    return strip_prefixes(blob), args


def recorded_clip(args: dict) -> dict[str, int]:
    """The clip settings an official ``args`` records (only those it records)."""
    return {ours: int(args[theirs]) for ours, theirs in CLIP_ARGS.items() if theirs in args}


def infer_encoder_config(
    weights: dict[str, Tensor], num_frames: int = 16, img_size: int = 224
) -> EncoderConfig:
    """The ViT shape from the weights: width and tube from the embedding, depth from the
    blocks, 64-wide heads (true for ViT-S/B/L), a learned position table if they hold one."""
    if "patch_embed.proj.weight" not in weights:
        raise ValueError("no encoder weights found (patch_embed.proj.weight is missing)")
    embed = weights["patch_embed.proj.weight"]  # (D, C, tubelet, patch, patch)
    depth = 1 + max(int(k.split(".")[1]) for k in weights if k.startswith("blocks."))
    return EncoderConfig(
        embed_dim=embed.shape[0],
        depth=depth,
        num_heads=max(1, embed.shape[0] // 64),
        in_chans=embed.shape[1],
        tubelet=embed.shape[2],
        patch=embed.shape[3],
        num_frames=num_frames,
        img_size=img_size,
        qkv_bias="blocks.0.attn.q_bias" in weights,
        pooled_norm="fc_norm.weight" in weights and "norm.weight" not in weights,
        learned_pos="pos_embed" in weights,
    )


def official_encoder(path: str | Path, strict: bool = False) -> tuple[VideoEncoder, dict]:
    """An encoder (eval mode) from an official SIGMA/VideoMAE pretraining or fine-tuning
    checkpoint, and the clip settings from its ``args`` (frames, sampling rate, size;
    VideoMAE's defaults where it records none).

    A learned ``pos_embed`` (fine-tuned with learnable positions) becomes the encoder's
    learned table (``learned_pos``), resampled if its token count differs.
    """
    state, args = read_checkpoint(path)
    weights = encoder_weights(state)
    clip = {**CLIP_DEFAULTS, **recorded_clip(args)}
    config = infer_encoder_config(weights, clip["num_frames"], clip["size"])
    encoder = VideoEncoder(config)
    if config.learned_pos:
        weights["pos_embed"] = learned_table(weights["pos_embed"], config)
    check_fit(encoder.state_dict(), weights, str(path), "this encoder", strict)
    encoder.load_state_dict(weights, strict=False)
    return encoder.eval(), clip


def learned_table(table: Tensor, config: EncoderConfig) -> Tensor:
    """An official ``(1, N, D)`` learned table as ours, ``(T·H·W, D)`` float on the config's
    grid (resampled from a square grid with as many frames when ``N`` differs)."""
    table = table.reshape(-1, config.embed_dim).float()
    t, h, w = config.grid
    if table.shape[0] != t * h * w:
        side = math.isqrt(table.shape[0] // t)
        table = resample_table(table, (t, side, side), config.grid)
    return table


def official_classifier(path: str | Path) -> tuple[VideoClassifier, dict]:
    """An official fine-tuned model: its encoder and its classification ``head``."""
    encoder, clip = official_encoder(path)
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
