"""The classification model: a video encoder, mean pooling + ``fc_norm``, dropout and a
linear head (VideoMAE's ``VisionTransformer`` with ``use_mean_pooling``)."""

from __future__ import annotations

import dataclasses

import torch
from torch import Tensor, nn

from sigma_video.models.encoder import EncoderConfig, VideoEncoder

NORM_KEYS = ("norm.weight", "norm.bias")


class VideoClassifier(nn.Module):
    """``logits (B, num_classes)`` of clips ``(B, C, T, H, W)`` (``num_classes`` 1: the
    regression output of a counting head).

    The head is trunc-normal (σ 0.02) times ``init_scale`` (0.001 in VideoMAE), bias 0.
    """

    def __init__(
        self,
        encoder: VideoEncoder,
        num_classes: int,
        dropout: float = 0.0,
        init_scale: float = 0.001,
        task: str = "classification",
    ) -> None:
        super().__init__()
        self.task = task  # what the head was trained for (``finetuning.tasks``)
        if num_classes < 1:
            raise ValueError(f"need at least 1 output, got {num_classes}")
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(encoder.embed_dim, num_classes)
        nn.init.trunc_normal_(self.head.weight, std=0.02)
        nn.init.zeros_(self.head.bias)
        with torch.no_grad():
            self.head.weight.mul_(init_scale)

    @property
    def num_classes(self) -> int:
        return self.head.out_features

    def forward(self, video: Tensor) -> Tensor:
        return self.head(self.dropout(self.encoder.forward_pooled(video)))


def finetuning_encoder(
    pretrained: VideoEncoder, drop_path: float, grad_checkpointing: bool = False
) -> VideoEncoder:
    """A copy of a pretrained encoder in the fine-tuning layout: stochastic depth
    ``drop_path`` and ``fc_norm`` on the pooled tokens instead of the per-token ``norm``.

    A pretraining ``norm`` is dropped and ``fc_norm`` starts fresh (weight 1, bias 0), as
    VideoMAE; an already fine-tuned encoder keeps its ``fc_norm``.
    """
    config = dataclasses.replace(
        pretrained.config,
        drop_path=drop_path,
        grad_checkpointing=grad_checkpointing,
        pooled_norm=True,
    )
    encoder = VideoEncoder(config)
    state = {k: v for k, v in pretrained.state_dict().items() if k not in NORM_KEYS}
    missing, unexpected = encoder.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.startswith("fc_norm.")]
    if missing or unexpected:  # pragma: no cover - same architecture by construction
        raise ValueError(f"encoder copy failed: missing {missing[:3]}, unexpected {unexpected[:3]}")
    return encoder


def classifier_from_config(
    encoder: dict, num_classes: int, dropout: float = 0.0, task: str = "classification"
) -> VideoClassifier:
    """An (untrained) classifier of a saved architecture (``dataclasses.asdict(EncoderConfig)``)."""
    encoder_model = VideoEncoder(EncoderConfig(**encoder))
    return VideoClassifier(encoder_model, num_classes, dropout, task=task)
