"""Pre-norm transformer block (VideoMAE layout: norm1, attn, norm2, mlp)."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from sigma_video.layers.attention import Attention
from sigma_video.layers.drop_path import DropPath
from sigma_video.layers.mlp import Mlp

LAYER_NORM_EPS = 1e-6


class LayerScale(nn.Module):
    """Per-channel scaling of a residual branch (DINOv2's ``ls1``/``ls2``, ``gamma``)."""

    def __init__(self, dim: int, init: float = 1e-5) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.full((dim,), init))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.gamma


class Block(nn.Module):
    """``x + attn(norm1(x))`` then ``x + mlp(norm2(x))``, each branch with drop path (and,
    with ``layer_scale``, DINOv2's per-channel scale)."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        drop_path: float = 0.0,
        fused_bias: bool = False,
        layer_scale: bool = False,
    ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
        self.attn = Attention(dim, num_heads, qkv_bias=qkv_bias, fused_bias=fused_bias)
        self.drop_path = DropPath(drop_path)
        self.norm2 = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.ls1 = LayerScale(dim) if layer_scale else nn.Identity()
        self.ls2 = LayerScale(dim) if layer_scale else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.drop_path(self.ls1(self.attn(self.norm1(x))))
        return x + self.drop_path(self.ls2(self.mlp(self.norm2(x))))


def run_blocks(blocks: nn.ModuleList, x: Tensor, checkpointing: bool = False) -> Tensor:
    """Apply blocks in order; with ``checkpointing`` their activations are recomputed in
    the backward pass instead of stored (only while training with gradients)."""
    use_checkpoint = checkpointing and torch.is_grad_enabled()
    for block in blocks:
        x = checkpoint(block, x, use_reentrant=False) if use_checkpoint else block(x)
    return x
