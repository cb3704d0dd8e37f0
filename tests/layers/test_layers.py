import math

import pytest
import torch

from sigma_video.layers import Attention, DropPath, resample_table, sinusoid_table


def test_sinusoid_table_by_hand():
    table = sinusoid_table(5, 6)
    assert table.shape == (5, 6) and table.dtype == torch.float32
    for p in range(5):
        for j in range(6):
            angle = p / 10000 ** (2 * (j // 2) / 6)
            expected = math.sin(angle) if j % 2 == 0 else math.cos(angle)
            assert table[p, j].item() == pytest.approx(expected, abs=1e-6)


def test_resample_identity_and_time_upsampling():
    table = torch.randn(2 * 3 * 3, 4)
    assert resample_table(table, (2, 3, 3), (2, 3, 3)) is table
    # a table that is constant over time stays so, and keeps its spatial pattern
    spatial = torch.randn(1, 3 * 3, 4)
    constant_in_time = spatial.expand(2, -1, -1).reshape(-1, 4)
    out = resample_table(constant_in_time, (2, 3, 3), (4, 3, 3))
    torch.testing.assert_close(out, spatial.expand(4, -1, -1).reshape(-1, 4))
    # halving the width of a table linear in w (interior samples): exact midpoint averages
    table = torch.arange(4.0)[:, None].repeat(1, 2)  # grid (1, 1, 4), value = w
    out = resample_table(table, (1, 1, 4), (1, 1, 2))
    torch.testing.assert_close(out[:, 0], torch.tensor([0.5, 2.5]))
    with pytest.raises(ValueError, match="rows"):
        resample_table(torch.zeros(5, 2), (1, 2, 2), (1, 1, 1))


def test_attention_matches_float64_softmax_attention():
    torch.manual_seed(0)
    attn = Attention(dim=8, num_heads=2).double()
    with torch.no_grad():
        attn.q_bias.normal_()
        attn.v_bias.normal_()
    x = torch.randn(3, 5, 8, dtype=torch.float64)
    w = attn.qkv.weight
    q = x @ w[:8].T + attn.q_bias
    k = x @ w[8:16].T  # no key bias
    v = x @ w[16:].T + attn.v_bias

    def heads(t):
        return t.view(3, 5, 2, 4).transpose(1, 2)

    a = torch.softmax(heads(q) @ heads(k).transpose(-1, -2) / math.sqrt(4), dim=-1)
    expected = attn.proj((a @ heads(v)).transpose(1, 2).reshape(3, 5, 8))
    torch.testing.assert_close(attn(x), expected)
    names = dict(attn.named_parameters())
    assert set(names) == {"qkv.weight", "q_bias", "v_bias", "proj.weight", "proj.bias"}


def test_attention_bias_matters():
    """Silently dropping q_bias/v_bias must change the output (the HF-export hazard)."""
    torch.manual_seed(1)
    attn = Attention(dim=8, num_heads=2)
    x = torch.randn(1, 4, 8)
    before = attn(x)
    with torch.no_grad():
        attn.v_bias.fill_(0.5)
    assert not torch.allclose(before, attn(x))


def test_drop_path():
    x = torch.ones(1000, 3)
    drop = DropPath(0.25)
    assert torch.equal(drop.eval()(x), x)
    out = drop.train()(x)
    kept = out[:, 0] != 0
    assert 0.6 < kept.float().mean() < 0.9
    torch.testing.assert_close(out[kept], torch.full_like(out[kept], 1 / 0.75))
    with pytest.raises(ValueError, match="drop path"):
        DropPath(1.0)


def test_attention_width_must_split_into_heads():
    with pytest.raises(ValueError, match="divisible"):
        Attention(10, 3)


def test_tube_embedding_of_visible_tubes_equals_the_convolution_then_gather():
    from sigma_video.layers.patch_embed import TubeEmbed
    from sigma_video.masks.token_mask import gather_tokens
    from sigma_video.tubes import video_to_tubes

    torch.manual_seed(0)
    embed = TubeEmbed(3, 8, 2, 4).double()
    video = torch.randn(2, 3, 4, 8, 12, dtype=torch.float64)
    visible = torch.tensor([[0, 3, 5], [1, 2, 11]])
    full = gather_tokens(embed(video), visible)
    (full**2).sum().backward()
    grad_full = embed.proj.weight.grad.clone()
    embed.zero_grad()
    part = embed.embed_tubes(gather_tokens(video_to_tubes(video, 2, 4).flatten(2), visible))
    (part**2).sum().backward()
    torch.testing.assert_close(part, full, rtol=0, atol=1e-12)
    torch.testing.assert_close(embed.proj.weight.grad, grad_full, rtol=0, atol=1e-12)
