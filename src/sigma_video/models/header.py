"""What a checkpoint's weights are, written in their safetensors header so that the file
loads with nothing beside it (``io.load``): ``model`` is ``pretrainer`` (with the encoder
Ψ's config and the clip, as JSON) or ``classifier`` (with ``classifier.json``'s content)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from sigma_video.models.encoder import EncoderConfig


def pretrainer_metadata(encoder: EncoderConfig, clip: dict[str, int]) -> dict[str, str]:
    """The header of a pretraining checkpoint's weights: its encoder Ψ and clip."""
    return {
        "model": "pretrainer",
        "encoder": json.dumps(dataclasses.asdict(encoder)),
        "clip": json.dumps(clip),
    }


def classifier_metadata(classifier: dict[str, Any]) -> dict[str, str]:
    """The header of a fine-tuning checkpoint's weights: ``classifier.json``'s content."""
    return {"model": "classifier", "classifier": json.dumps(classifier)}
