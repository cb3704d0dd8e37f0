"""Reusable transformer building blocks."""

from sigma_video.layers.attention import Attention
from sigma_video.layers.block import LAYER_NORM_EPS, Block, run_blocks
from sigma_video.layers.drop_path import DropPath
from sigma_video.layers.mlp import Mlp
from sigma_video.layers.patch_embed import TubeEmbed
from sigma_video.layers.pos_embed import resample_table, sinusoid_table

__all__ = [
    "LAYER_NORM_EPS",
    "Attention",
    "Block",
    "DropPath",
    "Mlp",
    "TubeEmbed",
    "resample_table",
    "run_blocks",
    "sinusoid_table",
]
