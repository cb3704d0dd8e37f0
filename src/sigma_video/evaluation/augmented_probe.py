"""Linear probe with augmentation on the fly: every epoch decodes fresh random crops of the
training clips and encodes them with the frozen encoder; the probe is MAE's — a
``BatchNorm1d`` without affine parameters, then a linear layer — trained with AdamW and a
cosine schedule. Slower than the cached probe (the encoder runs every epoch), closer to the
papers' protocol. Validation uses the cached centre-view features."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader

from sigma_video.data.annotations import VideoRecord
from sigma_video.data.collate import collate
from sigma_video.data.dataset import ClipConfig, VideoClips
from sigma_video.data.transforms import normalize
from sigma_video.engine.sampler import epoch_order
from sigma_video.engine.stop import detach_worker
from sigma_video.evaluation.inference import eval_autocast
from sigma_video.evaluation.metrics import topk_accuracy
from sigma_video.evaluation.settings import AUGMENTED_WEIGHT_DECAY, ProbeSettings
from sigma_video.models.encoder import VideoEncoder


def augmented_probe(
    encoder: VideoEncoder,
    train: Sequence[VideoRecord],
    clip: ClipConfig,
    val_x: Tensor,
    val_y: Tensor,
    epochs: int = ProbeSettings.epochs,
    batch_size: int = ProbeSettings.batch_size,
    lr: float = ProbeSettings.lr,
    weight_decay: float = AUGMENTED_WEIGHT_DECAY,
    workers: int = 0,
    device: str | torch.device = "cpu",
    seed: int = 0,
    log: Callable[[str], None] | None = None,
) -> dict[str, float]:
    """Train the probe on augmented training clips (``clip.crop``, e.g. random-resized);
    score it on ``val_x (N, D)`` centre-view features with labels ``val_y (N,)``.

    Returns ``top1``, ``top5`` (fractions), ``num_train``, ``num_val``, ``epochs``.
    """
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs and batch_size must be >= 1, got {epochs}, {batch_size}")
    labels = [r.label for r in train]
    if min(labels) < 0 or (val_y < 0).any():
        raise ValueError("the probe needs labelled samples (labels >= 0)")
    device = torch.device(device)
    num_classes = int(max(max(labels), int(val_y.max()))) + 1
    encoder = encoder.eval().to(device)
    torch.manual_seed(seed)
    head = nn.Sequential(
        nn.BatchNorm1d(encoder.embed_dim, affine=False), nn.Linear(encoder.embed_dim, num_classes)
    ).to(device)
    nn.init.trunc_normal_(head[1].weight, std=0.01)
    nn.init.zeros_(head[1].bias)
    optimizer = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=weight_decay)
    dataset = VideoClips(train, clip, seed=seed)
    if len(dataset) < batch_size:
        raise ValueError(f"{len(dataset)} training samples are fewer than batch_size {batch_size}")
    steps = epochs * (len(dataset) // batch_size)  # full batches only: BatchNorm needs > 1
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    for epoch in range(epochs):
        keys = [(i, epoch) for i in epoch_order(len(dataset), seed, epoch)]
        loader = DataLoader(
            dataset,
            batch_size=batch_size,
            sampler=keys,
            num_workers=workers,
            collate_fn=collate,
            drop_last=True,
            generator=torch.Generator(),
            worker_init_fn=detach_worker,  # signals to the group reach the main process only
        )
        total, count = 0.0, 0
        for batch in loader:
            video = normalize(batch["video"].to(device, non_blocking=True))
            with (
                torch.no_grad(),
                eval_autocast(device),
            ):
                features = encoder.forward_pooled(video).float()
            loss = F.cross_entropy(head(features), batch["label"].to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            total, count = total + loss.item() * len(video), count + len(video)
        if log is not None:
            log(f"probe epoch {epoch + 1}/{epochs}: loss {total / count:.4f}")
    head.eval()
    with torch.no_grad():
        logits = head(val_x.to(device)).cpu()
    return {
        "top1": topk_accuracy(logits, val_y, 1),
        "top5": topk_accuracy(logits, val_y, 5),
        "num_train": len(dataset),
        "num_val": len(val_x),
        "epochs": epochs,
    }
