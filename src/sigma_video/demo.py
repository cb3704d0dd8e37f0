"""A short SIGMA-MLP run of the tiny model on generated clips (CPU, about a minute).

Stand-in main job until the pretraining command exists: it shows the method running end to
end and prints the loss and the collapse diagnostics as it trains.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from sigma_video.pretrainer import PretrainerConfig, build_pretrainer, sample_mask
from sigma_video.tubes import IMAGENET_MEAN, IMAGENET_STD


def moving_squares(batch_size: int, frames: int, size: int, generator: torch.Generator) -> Tensor:
    """Clips of a coloured square moving in a straight line over a smooth textured background.

    Returns ``(B, 3, T, size, size)`` ImageNet-normalised float32 clips.
    """
    g = generator
    coarse = torch.rand(batch_size, 3, 6, 6, generator=g)
    background = F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False)
    background = background.clamp(0, 1)[:, :, None]  # (B, 3, 1, S, S), static over time
    colour = torch.rand(batch_size, 3, 1, 1, 1, generator=g)
    side = size // 4
    start = torch.rand(batch_size, 2, generator=g) * (size - side)
    velocity = (torch.rand(batch_size, 2, generator=g) * 2 - 1) * size / frames
    t = torch.arange(frames, dtype=torch.float32)
    pos = (start[:, :, None] + velocity[:, :, None] * t).clamp(0, size - side)  # (B, 2, T)
    coords = torch.arange(size, dtype=torch.float32)
    inside_y = (coords >= pos[:, 0, :, None]) & (coords < pos[:, 0, :, None] + side)  # (B,T,S)
    inside_x = (coords >= pos[:, 1, :, None]) & (coords < pos[:, 1, :, None] + side)
    inside = (inside_y[:, :, :, None] & inside_x[:, :, None, :])[:, None]  # (B, 1, T, S, S)
    video = torch.where(inside, colour, background)
    video = (video + 0.05 * torch.randn(video.shape, generator=g)).clamp(0, 1)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1, 1)
    return (video - mean) / std


def run_demo(
    steps: int = 40,
    batch_size: int = 8,
    num_prototypes: int = 256,
    lr: float = 3e-4,
    seed: int = 0,
    log: Callable[[str], None] = print,
) -> list[dict[str, float]]:
    """Train the tiny SIGMA-MLP model for ``steps`` steps; returns the metrics per step."""
    torch.manual_seed(seed)
    config = PretrainerConfig(model="vit_tiny", num_prototypes=num_prototypes)
    model = build_pretrainer(config).train()
    enc = model.encoder.config
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=0.05)
    gen = torch.Generator().manual_seed(seed)
    log(
        f"SIGMA-MLP demo: vit_tiny, {enc.num_frames}×{enc.img_size}² clips, batch {batch_size}, "
        f"K={num_prototypes}, {steps} steps on generated moving squares (CPU)"
    )
    log(
        f"{'step':>5} {'loss':>8} {'CE(φ,qΨ)':>9} {'CE(Ψ,qφ)':>9} {'label H':>8} {'in use':>7} "
        f"{'score H':>8}"
    )
    history, start = [], time.perf_counter()
    for step in range(steps):
        video = moving_squares(batch_size, enc.num_frames, enc.img_size, gen)
        mask = sample_mask(config, model, video, generator=gen)
        loss, metrics = model(video, mask)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        model.after_backward(step)
        optimizer.step()
        row = {k: float(v) for k, v in metrics.items()}
        history.append(row)
        if step % 5 == 0 or step == steps - 1:
            log(
                f"{step:>5} {row['loss']:>8.4f} {row['loss_phi']:>9.4f} {row['loss_psi']:>9.4f} "
                f"{row['usage_entropy']:>8.3f} {int(row['prototypes_in_use']):>7} "
                f"{row['score_usage_entropy']:>8.3f}"
            )
    elapsed = time.perf_counter() - start
    log(
        f"done in {elapsed:.1f} s ({steps * batch_size / elapsed:.1f} clips/s); loss "
        f"{history[0]['loss']:.3f} -> {history[-1]['loss']:.3f}; pseudo-label entropy "
        f"{history[-1]['usage_entropy']:.2f} of max {math.log(num_prototypes):.2f} nats"
    )
    return history
