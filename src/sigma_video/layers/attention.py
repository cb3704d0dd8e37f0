"""Multi-head self-attention with the VideoMAE parameter layout, computed with SDPA."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class Attention(nn.Module):
    """Self-attention whose parameters match VideoMAE/SIGMA checkpoints.

    ``qkv.weight (3D, D)`` without bias, plus ``q_bias``/``v_bias`` of size D; the key has no
    bias (it would cancel in the softmax). Scale ``1/sqrt(head_dim)``. With ``fused_bias``
    the layout is timm's/DINO's instead: one ``qkv.bias (3D)``.
    """

    def __init__(
        self, dim: int, num_heads: int, qkv_bias: bool = True, fused_bias: bool = False
    ) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"width {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=fused_bias)
        if qkv_bias and not fused_bias:
            self.q_bias = nn.Parameter(torch.zeros(dim))
            self.v_bias = nn.Parameter(torch.zeros(dim))
        else:
            self.register_parameter("q_bias", None)
            self.register_parameter("v_bias", None)
        self.proj = nn.Linear(dim, dim)

    def qkv_bias(self) -> Tensor | None:
        if self.q_bias is None:
            return self.qkv.bias
        return torch.cat([self.q_bias, torch.zeros_like(self.q_bias), self.v_bias])

    def forward(self, x: Tensor) -> Tensor:
        b, n, d = x.shape  # (B, N, D)
        qkv = F.linear(x, self.qkv.weight, self.qkv_bias())  # (B, N, 3D)
        q, k, v = qkv.view(b, n, 3, self.num_heads, d // self.num_heads).permute(2, 0, 3, 1, 4)
        x = F.scaled_dot_product_attention(q, k, v)  # (B, heads, N, head_dim)
        return self.proj(x.transpose(1, 2).reshape(b, n, d))
