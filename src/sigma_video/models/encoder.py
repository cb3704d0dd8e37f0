"""The video ViT encoder Ψ (VideoMAE / SIGMA layout, parameter names included)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import Tensor, nn

from sigma_video.layers import (
    LAYER_NORM_EPS,
    Block,
    TubeEmbed,
    resample_table,
    run_blocks,
    sinusoid_table,
)
from sigma_video.masks.token_mask import gather_tokens
from sigma_video.models.init import init_vit_weights
from sigma_video.tubes import token_grid, video_to_tubes

POS_TABLE_MODES = ("sinusoid", "interpolate")


@dataclass
class EncoderConfig:
    """Shape of a video ViT.

    ``num_frames``/``img_size`` are the clip size the model is built for (the size of its
    default position table); other clip sizes work too, see ``pos_table``:
    ``"sinusoid"`` recomputes the flattened-index sinusoid table for the actual token count
    (what VideoMAE does when fine-tuning at another size) and ``"interpolate"`` resamples the
    default table trilinearly so each position keeps its space-time meaning.
    ``learned_pos`` makes the table a trained parameter, saved with the weights (VideoMAE's
    ``use_learnable_pos_emb``, found in fine-tuned files that carry a ``pos_embed``); it
    starts as the sinusoid and is always resampled for other grids. The default is the
    fixed sinusoid, rebuilt rather than saved.
    ``pooled_norm`` is the fine-tuned VideoMAE layout: no per-token final ``norm``, an
    ``fc_norm`` on the mean-pooled tokens instead.
    """

    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    mlp_ratio: float = 4.0
    qkv_bias: bool = True
    in_chans: int = 3
    tubelet: int = 2
    patch: int = 16
    num_frames: int = 16
    img_size: int = 224
    drop_path: float = 0.0
    grad_checkpointing: bool = False
    pos_table: str = "sinusoid"
    pooled_norm: bool = False
    learned_pos: bool = False

    def __post_init__(self) -> None:
        if self.pos_table not in POS_TABLE_MODES:
            raise ValueError(f"pos_table must be one of {POS_TABLE_MODES}, got {self.pos_table!r}")
        if self.embed_dim % self.num_heads:
            raise ValueError(
                f"embed_dim {self.embed_dim} must be divisible by num_heads {self.num_heads}"
            )
        if not 0.0 <= self.drop_path < 1.0:
            raise ValueError(f"drop_path must be in [0, 1), got {self.drop_path}")

    @property
    def grid(self) -> tuple[int, int, int]:
        """Default token grid ``(T, H, W)``, e.g. ``(8, 14, 14)`` for 16×224²."""
        return token_grid(self.num_frames, self.img_size, self.img_size, self.tubelet, self.patch)


class VideoEncoder(nn.Module):
    """Tube embedding + position table (fixed, or learned) + transformer blocks + final norm.

    Input clips are ``(B, C, T, H, W)`` normalised with ImageNet statistics. Only the
    visible tokens go through the blocks when a mask is given.
    """

    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        self.config = config
        self.embed_dim = config.embed_dim
        self.patch_embed = TubeEmbed(
            config.in_chans, config.embed_dim, config.tubelet, config.patch
        )
        grid = config.grid
        table = sinusoid_table(grid[0] * grid[1] * grid[2], config.embed_dim)
        if config.learned_pos:
            self.pos_embed = nn.Parameter(table)  # (N, D), trained and saved
        else:
            self.register_buffer("pos_embed", table, persistent=False)  # (N, D), not saved
        rates = torch.linspace(0, config.drop_path, config.depth, device="cpu").tolist()
        self.blocks = nn.ModuleList(
            Block(config.embed_dim, config.num_heads, config.mlp_ratio, config.qkv_bias, rate)
            for rate in rates
        )
        if config.pooled_norm:
            self.norm = nn.Identity()
            self.fc_norm = nn.LayerNorm(config.embed_dim, eps=LAYER_NORM_EPS)
        else:
            self.norm = nn.LayerNorm(config.embed_dim, eps=LAYER_NORM_EPS)
            self.fc_norm = nn.Identity()
        self._tables: dict[tuple, Tensor] = {}
        init_vit_weights(self)

    def grid_of(self, video: Tensor) -> tuple[int, int, int]:
        """Token grid ``(T, H, W)`` of a clip batch; raises ValueError for a wrong shape."""
        c = self.config
        if video.ndim != 5 or video.shape[1] != c.in_chans:
            raise ValueError(
                f"video must be (B, {c.in_chans}, T, H, W), got shape {tuple(video.shape)}"
            )
        return token_grid(*video.shape[2:], c.tubelet, c.patch)

    def position_table(self, grid: tuple[int, int, int]) -> Tensor:
        """``(T·H·W, D)`` position table for a token grid, on this module's device."""
        if grid == self.config.grid:
            return self.pos_embed
        if self.config.learned_pos:  # resampled at each call: the table trains
            return resample_table(self.pos_embed, self.config.grid, grid)
        key = (grid, self.pos_embed.device)
        if key not in self._tables:
            if self.config.pos_table == "interpolate":
                table = resample_table(self.pos_embed, self.config.grid, grid)
            else:
                table = sinusoid_table(grid[0] * grid[1] * grid[2], self.embed_dim)
            self._tables[key] = table.to(self.pos_embed.device)
        return self._tables[key]

    def embed(self, video: Tensor, visible: Tensor | None = None) -> Tensor:
        """Tube embedding plus positions, ``(B, N, D)``, or ``(B, N_vis, D)`` if ``visible``."""
        table = self.position_table(self.grid_of(video)).to(video.dtype)  # (N, D)
        if visible is None:
            return self.patch_embed(video) + table
        c = self.config  # only the visible tubes are cut out and embedded
        tubes = gather_tokens(video_to_tubes(video, c.tubelet, c.patch).flatten(2), visible)
        return self.patch_embed.embed_tubes(tubes) + table[visible]

    def forward_features(self, video: Tensor, visible: Tensor | None = None) -> Tensor:
        """Encode a clip batch.

        Args:
            video: ``(B, C, T, H, W)``.
            visible: optional ``(B, N_vis)`` sorted indices of the tokens to encode
                (``TokenMask.visible``); all tokens when None.

        Returns:
            ``(B, N_vis or N, D)`` tokens after the final norm.
        """
        x = run_blocks(
            self.blocks,
            self.embed(video, visible),
            self.config.grad_checkpointing and self.training,
        )
        return self.norm(x)

    def pool(self, tokens: Tensor) -> Tensor:
        """``(B, N, D)`` output tokens -> ``(B, D)``: their mean, then ``fc_norm``
        (identity unless the encoder is in the fine-tuned layout)."""
        return self.fc_norm(tokens.mean(dim=1))

    def forward_pooled(self, video: Tensor) -> Tensor:
        """Average of all output tokens, ``(B, D)`` — the clip feature for evaluation
        (then ``fc_norm`` for fine-tuned checkpoints)."""
        return self.pool(self.forward_features(video))

    def forward(self, video: Tensor, visible: Tensor | None = None) -> Tensor:
        return self.forward_features(video, visible)


def with_clip(encoder: VideoEncoder, num_frames: int, size: int) -> VideoEncoder:
    """The encoder for another default clip (``num_frames`` × ``size``²), same weights, in
    eval mode; itself when the clip is already its own. Its fixed sinusoid table is
    rebuilt; a learned table cannot follow, so a change is refused."""
    c = encoder.config
    if (c.num_frames, c.img_size) == (num_frames, size):
        return encoder
    if c.learned_pos:
        raise ValueError("this encoder has a learned position table: its clip size is fixed")
    rebuilt = VideoEncoder(replace(c, num_frames=num_frames, img_size=size))
    rebuilt.load_state_dict(encoder.state_dict())
    return rebuilt.eval()
