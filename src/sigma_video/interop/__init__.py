"""Deprecated location of the official-checkpoint readers: use ``sigma_video.io``."""

from sigma_video.interop.reference import (
    load_weights,
    pretrainer_weights,
    read_checkpoint,
    reference_encoder,
)

__all__ = ["load_weights", "pretrainer_weights", "read_checkpoint", "reference_encoder"]
