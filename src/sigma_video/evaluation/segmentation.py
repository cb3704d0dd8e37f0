"""Unsupervised video object segmentation (the Time-Tuning protocol) on DAVIS-style data.

Per clip: tube features of the frozen encoder -> standardise -> PCA -> k-means (several
restarts) -> cluster maps upsampled to the frames -> matched to the ground truth:
*clustering* (K = number of ground-truth segments, Hungarian matching) and
*over-clustering* (larger K, many-to-one matching) -> mIoU. Layout read:
``JPEGImages/480p/<seq>/*.jpg``, ``Annotations/480p/<seq>/*.png`` (palette indices),
``ImageSets/2017/<split>.txt``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA

from sigma_video.data.transforms import normalize
from sigma_video.evaluation.matching import hungarian_miou, overclustering_miou
from sigma_video.models.encoder import VideoEncoder


@dataclass(frozen=True)
class SegmentConfig:
    """``clusters=None``: K = number of ground-truth segments of the clip."""

    clip_len: int = 16
    clusters: int | None = None
    overclusters: int = 10
    pca_dim: int = 50
    kmeans_iters: int = 50
    kmeans_restarts: int = 5
    seed: int = 0


def davis_sequences(root: str | Path, split: str = "val") -> list[str]:
    root = Path(root)
    listing = root / "ImageSets" / "2017" / f"{split}.txt"
    if not listing.exists():
        raise ValueError(f"{root} is not a DAVIS-2017 folder: {listing} is missing")
    names = listing.read_text().split()
    if not names:
        raise ValueError(f"{listing} lists no sequences")
    return names


def load_sequence(root: str | Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    """``uint8 (T, H, W, 3)`` frames and ``uint8 (T, H, W)`` segment ids of a sequence."""
    root = Path(root)
    frames = sorted((root / "JPEGImages" / "480p" / name).glob("*.jpg"))
    masks = sorted((root / "Annotations" / "480p" / name).glob("*.png"))
    if not frames:
        raise ValueError(f"DAVIS sequence {name!r} has no frames in JPEGImages/480p/{name}")
    if [f.stem for f in frames] != [m.stem for m in masks]:
        raise ValueError(
            f"DAVIS sequence {name!r}: {len(frames)} frames but {len(masks)} annotations "
            f"(Annotations/480p/{name} must hold one PNG per frame)"
        )
    rgb = np.stack([np.asarray(Image.open(f).convert("RGB")) for f in frames])
    ids = np.stack([np.asarray(Image.open(m)) for m in masks]).astype(np.uint8)
    if ids.ndim != 3:
        raise ValueError(f"DAVIS sequence {name!r}: annotations must be palette (index) PNGs")
    return rgb, ids


@torch.no_grad()
def tube_features(encoder: VideoEncoder, frames: np.ndarray, size: int) -> np.ndarray:
    """``(T', h, w, D)`` features of the tubes of a clip resized to ``size × size``."""
    video = torch.from_numpy(frames).permute(3, 0, 1, 2)[None]  # (1, 3, T, H, W) uint8
    video = F.interpolate(
        video.float()[0].transpose(0, 1),
        size=(size, size),
        mode="bilinear",
        align_corners=False,
        antialias=True,
    )  # (T, 3, S, S)
    video = normalize(video.round().clamp(0, 255).transpose(0, 1)[None].to(torch.uint8))
    grid = encoder.grid_of(video)
    tokens = encoder.forward_features(video)[0]  # (T'·h·w, D)
    return tokens.reshape(*grid, -1).float().numpy()


def cluster_tubes(features: np.ndarray, k: int, config: SegmentConfig) -> np.ndarray:
    """k-means cluster id of every tube, ``(T', h, w, D) -> (T', h, w)``."""
    grid, flat = features.shape[:-1], features.reshape(-1, features.shape[-1])
    if k > len(flat):
        raise ValueError(f"K = {k} clusters but the clip has only {len(flat)} tubes")
    flat = (flat - flat.mean(0)) / (flat.std(0) + 1e-6)
    dim = min(config.pca_dim, flat.shape[0], flat.shape[1])
    reduced = PCA(n_components=dim, random_state=config.seed).fit_transform(flat)
    kmeans = KMeans(
        n_clusters=k,
        n_init=config.kmeans_restarts,
        max_iter=config.kmeans_iters,
        random_state=config.seed,
    )
    return kmeans.fit_predict(reduced).reshape(grid)


def upsample(labels: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """Nearest-neighbour upsampling of ``(T', h, w)`` cluster maps to ``(T, H, W)`` frames."""
    t, h, w = shape
    tt = np.minimum((np.arange(t) * labels.shape[0]) // t, labels.shape[0] - 1)
    hh = np.minimum((np.arange(h) * labels.shape[1]) // h, labels.shape[1] - 1)
    ww = np.minimum((np.arange(w) * labels.shape[2]) // w, labels.shape[2] - 1)
    return labels[tt][:, hh][:, :, ww]


def segment_clip(
    encoder: VideoEncoder, frames: np.ndarray, ids: np.ndarray, size: int, config: SegmentConfig
) -> dict:
    """mIoU of both protocols for one clip, with the cluster maps ``(T, H, W)``."""
    features = tube_features(encoder, frames, size)
    segments = int(ids.max()) + 1
    k = config.clusters or segments
    maps = upsample(cluster_tubes(features, k, config), ids.shape)
    over = upsample(cluster_tubes(features, config.overclusters, config), ids.shape)
    return {
        "miou_clustering": hungarian_miou(maps, ids, k, segments),
        "miou_overclustering": overclustering_miou(over, ids, config.overclusters, segments),
        "maps": maps,
    }


PALETTE = np.array(
    [
        [230, 25, 75],
        [60, 180, 75],
        [255, 225, 25],
        [0, 130, 200],
        [245, 130, 48],
        [145, 30, 180],
        [70, 240, 240],
        [240, 50, 230],
        [210, 245, 60],
        [250, 190, 212],
        [0, 128, 128],
        [170, 110, 40],
    ],
    dtype=np.float32,
)


def write_overlays(frames: np.ndarray, maps: np.ndarray, folder: Path, name: str) -> None:
    """Cluster maps blended over the frames: one PNG per frame and an animated GIF."""
    folder.mkdir(parents=True, exist_ok=True)
    colours = PALETTE[maps % len(PALETTE)]  # (T, H, W, 3)
    blended = (0.5 * frames.astype(np.float32) + 0.5 * colours).clip(0, 255).astype(np.uint8)
    images = [Image.fromarray(b) for b in blended]
    for t, image in enumerate(images):
        image.save(folder / f"{name}_{t:05d}.png")
    images[0].save(
        folder / f"{name}.gif", save_all=True, append_images=images[1:], duration=120, loop=0
    )


def evaluate_segmentation(
    encoder: VideoEncoder,
    root: str | Path,
    size: int,
    split: str = "val",
    config: SegmentConfig | None = None,
    overlays: Path | None = None,
    max_sequences: int | None = None,
) -> dict:
    """Mean over clips of both mIoUs on a DAVIS-style folder; overlays optional."""
    config = config or SegmentConfig()
    tubelet = encoder.config.tubelet
    names = davis_sequences(root, split)[:max_sequences]
    results = []
    for name in names:
        frames, ids = load_sequence(root, name)
        length = config.clip_len - config.clip_len % tubelet
        for start in range(0, len(frames) - length + 1, length):
            clip = slice(start, start + length)
            result = segment_clip(encoder, frames[clip], ids[clip], size, config)
            results.append(result)
            if overlays is not None:
                write_overlays(frames[clip], result["maps"], overlays / name, f"clip{start:05d}")
    if not results:
        raise ValueError(f"no sequence in {root} has {config.clip_len} frames")
    return {
        "miou_clustering": float(np.mean([r["miou_clustering"] for r in results])),
        "miou_overclustering": float(np.mean([r["miou_overclustering"] for r in results])),
        "clips": len(results),
        "sequences": len(names),
    }
