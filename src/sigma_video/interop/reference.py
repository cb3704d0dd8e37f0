"""Reading the reference code's checkpoints (SIGMA / VideoMAE) without running pickled code.

The reference saves ``torch.save({"model", "optimizer", "epoch", "scaler", "args"})`` with an
``argparse.Namespace`` in ``args``; it is loaded with ``torch.load(weights_only=True)`` and
only ``argparse.Namespace`` allow-listed, so a file that would execute code is refused.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import torch
from torch import Tensor

from sigma_video.layers import resample_table
from sigma_video.models.encoder import EncoderConfig, VideoEncoder

PREFIXES = ("module.", "_orig_mod.", "backbone.")
# reference pretraining keys -> ours (everything else keeps its name)
PRETRAIN_KEYS = {
    "encoder_to_decoder.weight": "decoder.encoder_to_decoder.weight",
    "mask_token": "decoder.mask_token",
    "prototypes": "objective.prototypes.weight",
}


def read_state_dict(path: str | Path) -> dict[str, Tensor]:
    """The model weights of a reference (or plain) checkpoint file, prefixes removed."""
    return read_checkpoint(path)[0]


def read_checkpoint(path: str | Path) -> tuple[dict[str, Tensor], dict]:
    """``(weights, args)``: the model state dict (prefixes removed) and the reference's
    ``args`` namespace as a dict (empty when absent)."""
    path = Path(path)
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            blob = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ValueError(f"checkpoint {path} not found") from None
    except Exception as err:  # unpickling refusals and corrupt files alike
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(
            f"refusing to load {path}: it is not a plain weights file ({reason[:160]})"
        ) from None
    args = blob.get("args") if isinstance(blob, dict) else None
    args = vars(args) if isinstance(args, argparse.Namespace) else {}
    for key in ("model", "module", "state_dict", "model_state"):
        if isinstance(blob, dict) and isinstance(blob.get(key), dict):
            blob = blob[key]
            break
    if not isinstance(blob, dict) or not all(isinstance(v, Tensor) for v in blob.values()):
        raise ValueError(f"{path} holds no state dict of tensors")
    return {_strip(k): v for k, v in blob.items()}, args


def _strip(key: str) -> str:
    changed = True
    while changed:
        changed = False
        for prefix in PREFIXES:
            if key.startswith(prefix):
                key, changed = key[len(prefix) :], True
    return key


def encoder_weights(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """Encoder keys of a pretraining (``encoder.*``) or fine-tuning (bare) checkpoint; a
    fine-tuned model's ``fc_norm`` is kept (pooled norm), its classifier ``head`` dropped."""
    if any(k.startswith("encoder.") for k in state):
        return {k[len("encoder.") :]: v for k, v in state.items() if k.startswith("encoder.")}
    skip = ("decoder", "head.", "encoder_to_decoder", "mask_token", "prototypes")
    return {k: v for k, v in state.items() if not k.startswith(skip)}


def pretrainer_weights(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """A reference pretraining state dict in our pretrainer's key layout."""
    out = {}
    for key, value in state.items():
        if key in PRETRAIN_KEYS:
            out[PRETRAIN_KEYS[key]] = value
        elif key.startswith("head."):  # the φ-MLP
            out["target.mlp." + key[len("head.") :]] = value
        else:
            out[key] = value
    return out


def infer_encoder_config(
    weights: dict[str, Tensor], num_frames: int = 16, img_size: int = 224
) -> EncoderConfig:
    """The ViT shape from the weights: width and tube from the embedding, depth from the
    blocks, 64-wide heads (true for ViT-S/B/L)."""
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
    )


def mismatch(expected: dict[str, Tensor], state: dict[str, Tensor], strict: bool) -> str:
    """What keeps ``state`` from loading into a module whose state dict is ``expected``:
    missing keys, shape mismatches, and (when ``strict``) unexpected keys; "" when it fits."""
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    wrong = [
        f"{k} {tuple(state[k].shape)} != {tuple(expected[k].shape)}"
        for k in expected
        if k in state and state[k].shape != expected[k].shape
    ]
    parts = [
        f"missing {missing[:4]}" if missing else "",
        f"shapes {wrong[:3]}" if wrong else "",
        f"unexpected {extra[:4]}" if strict and extra else "",
    ]
    return "; ".join(p for p in parts if p)


def load_weights(
    module: torch.nn.Module, state: dict[str, Tensor], source: str, strict: bool
) -> None:
    """Load ``state`` into ``module`` with one-line errors: missing keys and shape
    mismatches always refuse; extra keys refuse only when ``strict``."""
    expected = module.state_dict()
    detail = mismatch(expected, state, strict)
    if detail:
        raise ValueError(f"{source} does not fit this encoder: {detail}")
    module.load_state_dict({k: v for k, v in state.items() if k in expected})


def reference_encoder(path: str | Path, strict: bool = False) -> tuple[VideoEncoder, dict]:
    """An encoder (eval mode) from a reference SIGMA/VideoMAE pretraining or fine-tuning
    checkpoint, and the clip settings from its ``args`` (frames, sampling rate, size).

    A learned ``pos_embed`` (fine-tuned with learnable positions) replaces the fixed table,
    resampled if its token count differs.
    """
    state, args = read_checkpoint(path)
    weights = encoder_weights(state)
    clip = {
        "num_frames": int(args.get("num_frames", 16)),
        "stride": int(args.get("sampling_rate", 4)),
        "size": int(args.get("input_size", 224)),
    }
    config = infer_encoder_config(weights, clip["num_frames"], clip["size"])
    encoder = VideoEncoder(config)
    table = weights.pop("pos_embed", None)
    load_weights(encoder, weights, str(path), strict)
    if table is not None:
        table = table.reshape(-1, config.embed_dim).float()
        t, h, w = config.grid
        if table.shape[0] != t * h * w:
            side = math.isqrt(table.shape[0] // t)
            table = resample_table(table, (t, side, side), config.grid)
        with torch.no_grad():
            encoder.pos_embed.copy_(table)
    return encoder.eval(), clip
