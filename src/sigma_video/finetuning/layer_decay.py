"""Layer-wise learning-rate decay (BEiT/VideoMAE fine-tuning): parameters of layer ``i``
of ``L = depth + 2`` layers (embedding = 0, block ``k`` = ``k + 1``, everything after the
blocks = ``L − 1``) get their lr scaled by ``decay ** (L − 1 − i)``."""

from __future__ import annotations

EMBEDDING_NAMES = ("patch_embed", "pos_embed", "cls_token", "mask_token")


def layer_id(name: str, depth: int) -> int:
    """Layer of an encoder parameter name (relative to the encoder: ``blocks.3.mlp.fc1.weight``)."""
    if name.startswith(EMBEDDING_NAMES):
        return 0
    if name.startswith("blocks."):
        return int(name.split(".")[1]) + 1
    return depth + 1


def lr_scale(name: str, depth: int, decay: float) -> float:
    """The lr multiplier of a parameter: 1 for the head and final norms, ``decay**(depth+1)``
    for the embedding."""
    return decay ** (depth + 1 - layer_id(name, depth))
