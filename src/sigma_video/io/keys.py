"""The official SIGMA/VideoMAE key layout (pure functions)."""

from __future__ import annotations

from torch import Tensor

# official pretraining keys -> ours (everything else keeps its name, ``head.*`` is φ-MLP)
PRETRAIN_KEYS = {
    "encoder_to_decoder.weight": "decoder.encoder_to_decoder.weight",
    "mask_token": "decoder.mask_token",
    "prototypes": "objective.prototypes.weight",
}


def encoder_weights(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """Encoder keys of a pretraining (``encoder.*``) or fine-tuning (bare) checkpoint; a
    fine-tuned model's ``fc_norm`` is kept (pooled norm), its classifier ``head`` dropped."""
    if any(k.startswith("encoder.") for k in state):
        return {k[len("encoder.") :]: v for k, v in state.items() if k.startswith("encoder.")}
    skip = ("decoder", "head.", "encoder_to_decoder", "mask_token", "prototypes")
    return {k: v for k, v in state.items() if not k.startswith(skip)}


def pretrainer_weights(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """An official pretraining state dict in our pretrainer's key layout."""
    out = {}
    for key, value in state.items():
        if key in PRETRAIN_KEYS:
            out[PRETRAIN_KEYS[key]] = value
        elif key.startswith("head."):  # the φ-MLP
            out["target.mlp." + key[len("head.") :]] = value
        else:
            out[key] = value
    return out
