"""Checkpoints of other code bases: the reference SIGMA/VideoMAE files."""

from sigma_video.interop.reference import (
    load_weights,
    pretrainer_weights,
    read_checkpoint,
    reference_encoder,
)

__all__ = ["load_weights", "pretrainer_weights", "read_checkpoint", "reference_encoder"]
