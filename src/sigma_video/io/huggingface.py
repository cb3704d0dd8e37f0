"""Hugging Face ``transformers`` VideoMAE export and import (optional extra ``[hf]``).

``VideoMAEModel`` takes clips as ``(B, T, C, H, W)``; its attention splits our fused
``qkv.weight`` into ``query/key/value`` and carries ``q_bias``/``v_bias`` as
``query.bias``/``value.bias`` (no key bias). Some ``transformers`` versions have dropped
those biases on load; ``export_videomae`` therefore reloads the saved folder and checks the
outputs against ours before it returns.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import Tensor

from sigma_video.models.encoder import EncoderConfig, VideoEncoder
from sigma_video.state_dict import check_fit

# our block sub-module -> VideoMAE's, for the layers whose weight and bias keep their shape
BLOCK_PAIRS = (
    ("norm1", "layernorm_before"),
    ("norm2", "layernorm_after"),
    ("attn.proj", "attention.output.dense"),
    ("mlp.fc1", "intermediate.dense"),
    ("mlp.fc2", "output.dense"),
)


def _require():
    try:
        import transformers
    except ImportError:
        raise ValueError(
            "the Hugging Face export needs transformers: pip install 'sigma-video[hf]'"
        ) from None
    return transformers


def hf_config(config: EncoderConfig):
    transformers = _require()
    if config.pooled_norm or not config.qkv_bias:
        raise ValueError(
            "only encoders with q/v biases and a per-token final norm export to VideoMAE"
        )
    if config.learned_pos:
        raise ValueError(
            "this encoder has a learned position table; VideoMAE's is the fixed sinusoid: "
            "convert it to our format instead (--to sigma)"
        )
    return transformers.VideoMAEConfig(
        image_size=config.img_size,
        patch_size=config.patch,
        num_channels=config.in_chans,
        num_frames=config.num_frames,
        tubelet_size=config.tubelet,
        hidden_size=config.embed_dim,
        num_hidden_layers=config.depth,
        num_attention_heads=config.num_heads,
        intermediate_size=int(config.embed_dim * config.mlp_ratio),
        hidden_act="gelu",
        qkv_bias=True,
        use_mean_pooling=False,
        layer_norm_eps=1e-6,
    )


def to_hf_state(state: dict[str, Tensor], depth: int) -> dict[str, Tensor]:
    """Our encoder keys -> ``VideoMAEModel`` keys."""
    out = {
        "embeddings.patch_embeddings.projection.weight": state["patch_embed.proj.weight"],
        "embeddings.patch_embeddings.projection.bias": state["patch_embed.proj.bias"],
        "layernorm.weight": state["norm.weight"],
        "layernorm.bias": state["norm.bias"],
    }
    for i in range(depth):
        ours, hf = f"blocks.{i}.", f"encoder.layer.{i}."
        q, k, v = state[ours + "attn.qkv.weight"].chunk(3)
        out.update(
            {
                hf + "attention.attention.query.weight": q,
                hf + "attention.attention.key.weight": k,
                hf + "attention.attention.value.weight": v,
                hf + "attention.attention.query.bias": state[ours + "attn.q_bias"],
                hf + "attention.attention.value.bias": state[ours + "attn.v_bias"],
            }
        )
        for a, b in BLOCK_PAIRS:
            out[hf + b + ".weight"] = state[ours + a + ".weight"]
            out[hf + b + ".bias"] = state[ours + a + ".bias"]
    return {key: value.contiguous() for key, value in out.items()}


def from_hf_state(state: dict[str, Tensor], depth: int) -> dict[str, Tensor]:
    """``VideoMAEModel`` (or ``videomae.``-prefixed pre-training) keys -> ours."""
    state = {k.removeprefix("videomae."): v for k, v in state.items()}
    ours = {}
    ours["patch_embed.proj.weight"] = state["embeddings.patch_embeddings.projection.weight"]
    ours["patch_embed.proj.bias"] = state["embeddings.patch_embeddings.projection.bias"]
    ours["norm.weight"], ours["norm.bias"] = state["layernorm.weight"], state["layernorm.bias"]
    for i in range(depth):
        o, h = f"blocks.{i}.", f"encoder.layer.{i}."
        ours[o + "attn.qkv.weight"] = torch.cat(
            [state[h + f"attention.attention.{n}.weight"] for n in ("query", "key", "value")]
        )
        # the hub files name them q_bias / v_bias; the loaded modules query.bias / value.bias
        ours[o + "attn.q_bias"] = _either(state, h + "attention.attention.", "q_bias", "query.bias")
        ours[o + "attn.v_bias"] = _either(state, h + "attention.attention.", "v_bias", "value.bias")
        for a, b in BLOCK_PAIRS:
            ours[o + a + ".weight"] = state[h + b + ".weight"]
            ours[o + a + ".bias"] = state[h + b + ".bias"]
    return ours


def _either(state: dict[str, Tensor], prefix: str, *names: str) -> Tensor:
    for name in names:
        if prefix + name in state:
            return state[prefix + name]
    raise KeyError(prefix + names[0])


IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]


def export_videomae(encoder: VideoEncoder, folder: str | Path, clip: dict | None = None) -> Path:
    """Write a ``save_pretrained`` folder with its ``preprocessor_config.json`` (resize,
    centre crop, ImageNet normalisation) and verify that ``transformers`` reproduces our
    hidden states from it (a silently dropped bias fails here, not in the user's hands).

    ``clip`` (``num_frames``, ``stride``, ``size``) is recorded in ``config.json`` as
    ``sigma_video_clip``: the frame stride has no VideoMAE field, and loading the folder
    back restores it."""
    transformers = _require()
    config = encoder.config
    hf = hf_config(config)
    hf.sigma_video_clip = clip or {
        "num_frames": config.num_frames,
        "stride": 4,
        "size": config.img_size,
    }
    model = transformers.VideoMAEModel(hf).eval()
    state = to_hf_state(
        {k: v.detach().float() for k, v in encoder.state_dict().items()}, config.depth
    )
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or [k for k in missing if "position" not in k]:
        raise ValueError(
            f"VideoMAE layout mismatch: missing {missing[:3]}, unexpected {unexpected[:3]}"
        )
    folder = Path(folder)
    model.save_pretrained(str(folder))
    size = config.img_size
    transformers.VideoMAEImageProcessor(
        size={"shortest_edge": size},
        crop_size={"height": size, "width": size},
        image_mean=IMAGENET_MEAN,
        image_std=IMAGENET_STD,
    ).save_pretrained(str(folder))
    reloaded = transformers.VideoMAEModel.from_pretrained(str(folder)).eval()
    video = torch.randn(1, config.in_chans, config.num_frames, config.img_size, config.img_size)
    with torch.no_grad():
        ours = encoder.eval().forward_features(video)
        theirs = reloaded(pixel_values=video.transpose(1, 2)).last_hidden_state
    if not torch.allclose(ours, theirs, rtol=1e-4, atol=1e-4):
        error = (ours - theirs).abs().max().item()
        raise ValueError(
            f"transformers {transformers.__version__} does not reproduce the encoder after "
            f"save/load (max difference {error:.2e}); the export is not usable"
        )
    return folder


def is_videomae_folder(folder: Path) -> bool:
    try:
        return json.loads((folder / "config.json").read_text()).get("model_type") == "videomae"
    except (OSError, json.JSONDecodeError, AttributeError):
        return False


def import_videomae(folder: str | Path) -> tuple[VideoEncoder, dict]:
    """An encoder from a ``VideoMAEModel``/``VideoMAEForPreTraining`` folder, and its clip
    settings."""
    from safetensors.torch import load_file

    folder = Path(folder)
    meta = json.loads((folder / "config.json").read_text())
    config = EncoderConfig(
        embed_dim=meta["hidden_size"],
        depth=meta["num_hidden_layers"],
        num_heads=meta["num_attention_heads"],
        mlp_ratio=meta["intermediate_size"] / meta["hidden_size"],
        in_chans=meta.get("num_channels", 3),
        tubelet=meta.get("tubelet_size", 2),
        patch=meta["patch_size"],
        num_frames=meta.get("num_frames", 16),
        img_size=meta["image_size"],
    )
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise ValueError(f"{folder} holds no .safetensors weights")
    state = {}
    for file in files:
        state.update(load_file(str(file)))
    encoder = VideoEncoder(config)
    try:
        weights = from_hf_state(state, config.depth)
    except KeyError as err:
        raise ValueError(f"{folder} is not a VideoMAE encoder: {err.args[0]} is missing") from None
    check_fit(encoder.state_dict(), weights, str(folder), "this encoder", strict=True)
    encoder.load_state_dict(weights)
    clip = {"num_frames": config.num_frames, "stride": 4, "size": config.img_size}
    clip.update(meta.get("sigma_video_clip") or {})  # written by export_videomae
    return encoder.eval(), clip
