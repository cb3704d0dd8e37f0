"""Bytes of activations a training forward saves for its backward pass, part by part.

Pure arithmetic on shapes. The counts follow what PyTorch's kernels save (read with
``torch.autograd.graph.saved_tensors_hooks``, see ``tests/planning``): a transformer block
over ``n`` tokens of width ``D`` (MLP hidden ``H``, ``h`` heads) keeps its two LayerNorm
inputs in the float32 residual stream with their means and inverse deviations, and in the
compute dtype (``a`` bytes: 2 under bf16 autocast, 4 in float32) the inputs of its four
matrix products, the q/k/v and output of fused attention (its log-sum-exp in float32) and
the MLP's hidden activation before and after the GELU:

    n · (2·4·D + 2·2·4 + 4·h) + n · a · (6·D + 2·H)   bytes.

Under autocast each matrix product also keeps the bf16 copy of its weight, once per forward.
With activation checkpointing a block keeps only its float32 input, ``4·n·D``, and recomputes
the rest during the backward pass, one block at a time.
"""

from __future__ import annotations

FLOAT32 = 4


def block_bytes(tokens: int, dim: int, hidden: int, heads: int, act: int) -> int:
    """Saved bytes of one transformer block over ``tokens`` tokens (all clips together)."""
    stream = tokens * (2 * FLOAT32 * dim + 2 * 2 * FLOAT32 + FLOAT32 * heads)
    return stream + tokens * act * (6 * dim + 2 * hidden)


def checkpointed_block_bytes(tokens: int, dim: int) -> int:
    """Saved bytes of one checkpointed block: its float32 input only."""
    return tokens * FLOAT32 * dim


def layer_norm_bytes(tokens: int, dim: int) -> int:
    """A LayerNorm over float32 input: the input and its per-token mean and inverse std."""
    return tokens * FLOAT32 * (dim + 2)


def linear_bytes(tokens: int, in_dim: int, act: int) -> int:
    """A matrix product keeps its input in the compute dtype."""
    return tokens * in_dim * act


def mlp_bytes(tokens: int, widths: list[int], act: int) -> int:
    """An MLP ``widths[0] -> ... -> widths[-1]`` with a GELU after each hidden layer: each
    product's input, and each GELU's input."""
    products = sum(linear_bytes(tokens, w, act) for w in widths[:-1])
    gelus = sum(tokens * w * act for w in widths[1:-1])
    return products + gelus


def prototype_score_bytes(tubes: int, dim: int, prototypes: int) -> int:
    """SIGMA's two branches over ``tubes`` masked tubes: each normalises its features
    (input and norms) and scores them against the K prototypes in float32; the
    cross-entropy keeps its log-softmax, ``M × K`` per branch."""
    normalise = tubes * FLOAT32 * (dim + 1)
    scores = tubes * FLOAT32 * prototypes  # the scores' log-softmax
    return 2 * (normalise + linear_bytes(tubes, dim, FLOAT32) + scores)
