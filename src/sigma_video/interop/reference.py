"""Deprecated location: the official SIGMA/VideoMAE files are read by ``sigma_video.io``."""

from __future__ import annotations

import torch
from torch import Tensor

from sigma_video.io.keys import PRETRAIN_KEYS, encoder_weights, pretrainer_weights
from sigma_video.io.official import infer_encoder_config, read_checkpoint
from sigma_video.io.official import official_encoder as reference_encoder
from sigma_video.state_dict import PREFIXES, check_fit

__all__ = [
    "PREFIXES",
    "PRETRAIN_KEYS",
    "encoder_weights",
    "infer_encoder_config",
    "load_weights",
    "pretrainer_weights",
    "read_checkpoint",
    "read_state_dict",
    "reference_encoder",
]


def read_state_dict(path: str) -> dict[str, Tensor]:
    """The model weights of an official (or plain) checkpoint file, prefixes removed."""
    return read_checkpoint(path)[0]


def load_weights(
    module: torch.nn.Module, state: dict[str, Tensor], source: str, strict: bool
) -> None:
    """``state_dict.check_fit`` then ``load_state_dict`` (extra keys allowed unless strict)."""
    expected = module.state_dict()
    check_fit(expected, state, source, "this encoder", strict)
    module.load_state_dict({k: v for k, v in state.items() if k in expected})
