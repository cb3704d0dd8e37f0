"""The lightweight decoder that predicts targets for the masked tubes."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from sigma_video.layers import LAYER_NORM_EPS, Block, run_blocks, sinusoid_table
from sigma_video.masks.token_mask import TokenMask, gather_tokens
from sigma_video.models.init import init_vit_weights


@dataclass
class DecoderConfig:
    """Decoder shape. ``out_dim`` is the target size: 256 for φ-MLP, the DINO width for
    φ-DINO, ``tubelet·patch²·3`` = 1536 for pixels."""

    embed_dim: int = 384
    depth: int = 4
    num_heads: int = 6
    mlp_ratio: float = 4.0
    qkv_bias: bool = True
    out_dim: int = 256
    grad_checkpointing: bool = False

    def __post_init__(self) -> None:
        if self.embed_dim % self.num_heads:
            raise ValueError(
                f"decoder embed_dim {self.embed_dim} must be divisible by num_heads "
                f"{self.num_heads}"
            )
        if self.out_dim < 1:
            raise ValueError(f"decoder out_dim must be >= 1, got {self.out_dim}")


class VideoDecoder(nn.Module):
    """Maps encoded visible tokens and mask tokens to predictions for the masked tokens.

    ``encoder_to_decoder`` (no bias) projects the encoder width to the decoder width; visible
    tokens and a learnable ``mask_token`` at every predicted position (``mask.predicted``:
    every masked one, or the share decoder masking keeps) get the decoder's own sinusoid
    table; after the blocks and the norm only the predicted tokens go through ``head``.
    """

    def __init__(self, config: DecoderConfig, encoder_dim: int) -> None:
        super().__init__()
        self.config = config
        dim = config.embed_dim
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.blocks = nn.ModuleList(
            Block(dim, config.num_heads, config.mlp_ratio, config.qkv_bias)
            for _ in range(config.depth)
        )
        self.norm = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
        self.head = nn.Linear(dim, config.out_dim)
        init_vit_weights(self)
        # Like the reference: the projection keeps PyTorch's default init (it lives outside
        # the reference decoder's init) and the mask token is N(0, 0.02²) truncated at ±0.02.
        self.encoder_to_decoder = nn.Linear(encoder_dim, dim, bias=False)
        nn.init.trunc_normal_(self.mask_token, std=0.02, a=-0.02, b=0.02)
        self._tables: dict[tuple, Tensor] = {}

    def position_table(self, num_tokens: int, device: torch.device) -> Tensor:
        """``(N, D_dec)`` sinusoid table over flattened token indices."""
        key = (num_tokens, device)
        if key not in self._tables:
            self._tables[key] = sinusoid_table(num_tokens, self.config.embed_dim, device=device)
        return self._tables[key]

    def forward(self, encoded: Tensor, mask: TokenMask) -> Tensor:
        """Predict the masked tokens.

        Args:
            encoded: ``(B, N_vis, D_enc)`` encoder output for ``mask.visible``.
            mask: the batch's ``TokenMask``.

        Returns:
            ``(B, N_pred, out_dim)`` predictions, in the order of ``mask.predicted``
            (ascending token index, the reference's ``x[bool_masked_pos]`` order).
        """
        x = self.encoder_to_decoder(encoded)  # (B, N_vis, D)
        b, _, _dim = x.shape
        table = self.position_table(mask.num_tokens, x.device).to(x.dtype)
        table = table.unsqueeze(0).expand(b, -1, -1)  # (B, N, D)
        visible = x + gather_tokens(table, mask.visible)
        predicted = mask.predicted
        masked = self.mask_token.to(x.dtype) + gather_tokens(table, predicted)
        x = torch.cat([visible, masked], dim=1)  # (B, N_vis + N_pred, D): visible first
        x = run_blocks(self.blocks, x, self.config.grad_checkpointing and self.training)
        return self.head(self.norm(x[:, -predicted.shape[1] :]))
