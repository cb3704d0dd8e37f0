"""The fine-tuning model built from a pretrained encoder."""

import pytest
import torch

from sigma_video.models.classifier import VideoClassifier, finetuning_encoder
from sigma_video.models.encoder import EncoderConfig, VideoEncoder


def pretrained():
    torch.manual_seed(0)
    encoder = VideoEncoder(
        EncoderConfig(embed_dim=32, depth=2, num_heads=2, num_frames=4, img_size=32)
    )
    with torch.no_grad():
        encoder.norm.weight.fill_(3.0)  # must not leak into fc_norm
    return encoder


def test_finetuning_encoder_copies_weights_and_swaps_the_norm():
    source = pretrained()
    encoder = finetuning_encoder(source, drop_path=0.1)
    assert encoder.config.pooled_norm and encoder.config.drop_path == 0.1
    assert encoder.blocks[0].drop_path.prob == 0.0  # linearly increasing over depth
    assert encoder.blocks[1].drop_path.prob == pytest.approx(0.1)
    for name, value in source.state_dict().items():
        if not name.startswith("norm."):
            assert torch.equal(encoder.state_dict()[name], value), name
    assert torch.equal(encoder.fc_norm.weight, torch.ones(32))
    assert "norm.weight" not in encoder.state_dict()
    # an already fine-tuned encoder keeps its fc_norm
    with torch.no_grad():
        encoder.fc_norm.bias.fill_(0.5)
    again = finetuning_encoder(encoder, drop_path=0.0)
    assert torch.equal(again.fc_norm.bias, torch.full((32,), 0.5))


def test_classifier_pools_all_tokens_then_norm_then_head():
    model = VideoClassifier(finetuning_encoder(pretrained(), 0.0), num_classes=5).eval()
    assert 1.5e-5 < model.head.weight.std().item() < 2.5e-5  # N(0, 0.02) × 0.001 (VideoMAE)
    assert torch.equal(model.head.bias, torch.zeros(5))
    video = torch.randn(3, 3, 4, 32, 32)
    tokens = model.encoder.forward_features(video)  # (3, 2·2·2, 32)
    want = model.head(model.encoder.fc_norm(tokens.mean(1)))
    torch.testing.assert_close(model(video), want)
    assert model(video).shape == (3, 5)
