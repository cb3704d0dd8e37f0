"""A frozen DINO image ViT as the projection network φ (SIGMA-DINO).

``ImageViT`` has the parameter names of the official DINO state dicts (and timm's
``vit_*_patch16_224.dino``): ``cls_token``, ``pos_embed``, ``patch_embed.proj``,
``blocks.N.{norm1, attn.qkv (with bias), attn.proj, norm2, mlp.fc1, mlp.fc2}``, ``norm``.
DINOv2 (``dinov2_*``: patch 14, LayerScale ``ls1``/``ls2``, register tokens) uses the same
class. ``TubeFeatures`` turns it into a per-tube feature extractor for clips: the first frame of
each tube (the reference's ``frames[::2]``, or the tube's mean frame), last-layer patch
tokens after the final norm, class (and register) tokens dropped, in the tubes' raster order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sigma_video.files import first_line, safe_torch_load
from sigma_video.layers import LAYER_NORM_EPS, Block
from sigma_video.state_dict import check_fit, strip_prefixes

FRAME_MODES = ("first", "mean")


@dataclass(frozen=True)
class ImageViTConfig:
    embed_dim: int
    depth: int
    num_heads: int
    patch: int = 16
    img_size: int = 224
    num_registers: int = 0
    layer_scale: bool = False  # DINOv2


DINO_PRESETS = {
    "dino_vits16": ImageViTConfig(384, 12, 6),
    "dino_vitb16": ImageViTConfig(768, 12, 12),
    # DINOv2 (official layout: 518² positions, LayerScale, optional registers, mask token)
    "dinov2_vits14": ImageViTConfig(384, 12, 6, patch=14, img_size=518, layer_scale=True),
    "dinov2_vitb14": ImageViTConfig(768, 12, 12, patch=14, img_size=518, layer_scale=True),
    "dinov2_vits14_reg": ImageViTConfig(384, 12, 6, 14, 518, num_registers=4, layer_scale=True),
    "dinov2_vitb14_reg": ImageViTConfig(768, 12, 12, 14, 518, num_registers=4, layer_scale=True),
}


class ImageViT(nn.Module):
    """The DINO/timm ViT: class token, learned positions, pre-norm blocks, final norm."""

    def __init__(self, config: ImageViTConfig) -> None:
        super().__init__()
        self.config = config
        d, grid = config.embed_dim, config.img_size // config.patch
        self.patch_embed = nn.Module()
        self.patch_embed.proj = nn.Conv2d(3, d, config.patch, config.patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        if config.num_registers:
            self.register_tokens = nn.Parameter(torch.zeros(1, config.num_registers, d))
        if config.layer_scale:  # unused for features; part of the official DINOv2 files
            self.mask_token = nn.Parameter(torch.zeros(1, d))
        self.pos_embed = nn.Parameter(torch.randn(1, 1 + grid * grid, d) * 0.02)
        self.blocks = nn.ModuleList(
            Block(d, config.num_heads, fused_bias=True, layer_scale=config.layer_scale)
            for _ in range(config.depth)
        )
        self.norm = nn.LayerNorm(d, eps=LAYER_NORM_EPS)

    def positions(self, height: int, width: int) -> Tensor:
        """``(1, 1 + h·w, D)`` table, the patch part resized (bicubic) for other grids."""
        cls, patches = self.pos_embed[:, :1], self.pos_embed[:, 1:]
        side = math.isqrt(patches.shape[1])
        if (height, width) == (side, side):
            return self.pos_embed
        grid = patches.reshape(1, side, side, -1).permute(0, 3, 1, 2)
        grid = F.interpolate(grid, size=(height, width), mode="bicubic", align_corners=False)
        return torch.cat([cls, grid.flatten(2).transpose(1, 2)], dim=1)

    def forward(self, images: Tensor) -> Tensor:
        """``(B, 3, H, W)`` ImageNet-normalised images -> ``(B, h·w, D)`` patch tokens."""
        x = self.patch_embed.proj(images)  # (B, D, h, w)
        h, w = x.shape[-2:]
        x = x.flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(len(x), -1, -1), x], dim=1) + self.positions(h, w)
        skip = 1
        if self.config.num_registers:
            registers = self.register_tokens.expand(len(x), -1, -1)
            x = torch.cat([x[:, :1], registers, x[:, 1:]], dim=1)
            skip += self.config.num_registers
        for block in self.blocks:
            x = block(x)
        return self.norm(x)[:, skip:]


class TubeFeatures(nn.Module):
    """Per-tube features of a frozen image model: ``(B, 3, T, H, W) -> (B, T'·h·w, D)``.

    ``frames="first"`` takes the first frame of each ``tubelet``-frame tube (reference),
    ``"mean"`` their average. When the image model's patch differs from the video encoder's
    ``patch``, its token grid is resampled (bilinear) to the encoder's, e.g. a DINOv2 /14
    model's 16×16 grid at 224² to 14×14.
    """

    def __init__(
        self, image_model: ImageViT, tubelet: int = 2, frames: str = "first", patch: int = 16
    ) -> None:
        super().__init__()
        if frames not in FRAME_MODES:
            raise ValueError(f"frames must be one of {FRAME_MODES}, got {frames!r}")
        self.image_model, self.tubelet, self.frames, self.patch = (
            image_model,
            tubelet,
            frames,
            patch,
        )

    def forward(self, video: Tensor) -> Tensor:
        b, c, t, h, w = video.shape
        tubes = video.reshape(b, c, t // self.tubelet, self.tubelet, h, w)
        images = tubes[:, :, :, 0] if self.frames == "first" else tubes.mean(3)  # (B, C, T', H, W)
        images = images.transpose(1, 2).reshape(-1, c, h, w)  # (B·T', C, H, W)
        tokens = self.image_model(images)  # (B·T', h'·w', D)
        own = self.image_model.config.patch
        side, wanted = (h // own, w // own), (h // self.patch, w // self.patch)
        if side != wanted:
            grid = tokens.transpose(1, 2).reshape(len(tokens), -1, *side)
            grid = F.interpolate(grid, size=wanted, mode="bilinear", align_corners=False)
            tokens = grid.flatten(2).transpose(1, 2)
        return tokens.reshape(b, -1, tokens.shape[-1])  # (B, T'·h·w, D), raster order


def load_image_vit(weights: str | Path, arch: str = "dino_vitb16") -> ImageViT:
    """An ``ImageViT`` with weights from an official DINO ``.pth`` (also DINO training
    checkpoints with ``teacher``/``student``), a timm state dict or a ``.safetensors`` file.

    Loaded without executing pickled code; mismatches are one-line ``ValueError``s.
    """
    if arch not in DINO_PRESETS:
        raise ValueError(f"unknown DINO architecture {arch!r}; choose from {sorted(DINO_PRESETS)}")
    model = ImageViT(DINO_PRESETS[arch])
    path = Path(weights)
    if path.suffix == ".safetensors":
        if not path.exists():
            raise ValueError(f"DINO weights {path} not found")
        from safetensors.torch import load_file

        try:
            state = load_file(str(path))
        except Exception as err:  # a truncated or foreign file
            raise ValueError(f"refusing to load DINO weights {path}: {first_line(err)}") from None
    else:
        state = safe_torch_load(path, "DINO weights")
    if isinstance(state, dict) and "teacher" in state:
        state = state["teacher"]
    state = {k: v for k, v in strip_prefixes(state).items() if not k.startswith("head")}
    check_fit(model.state_dict(), state, str(path), arch, strict=True)
    model.load_state_dict(state)
    return model
