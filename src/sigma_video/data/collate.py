"""Batching: stack the views, repeat the labels, stack the masks made with each sample."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from sigma_video.masks.token_mask import TokenMask


def collate(samples: Sequence[dict]) -> dict:
    """``VideoClips`` items -> a batch.

    ``video`` ``uint8 (B·num_sample, 3, T, S, S)`` (None with ``plans``: the samples'
    ``ClipPlan``s, decoded in the training step), ``label`` ``(B·num_sample,)``, ``mask``
    (the samples' ``TokenMask``s stacked, or None), ``index`` ``(B,)``, ``skipped`` (all
    bad samples replaced while loading the batch) and ``without_motion`` (how many samples
    got tube masks instead of motion-guided ones).
    """
    plans = [s["plan"] for s in samples if s.get("plan") is not None]
    if plans:  # decoded in the training step (``data.step_decode``: ``decode_in="step"``)
        video, views = None, torch.tensor([len(p.views) for p in plans])
    else:
        video = torch.cat([s["video"] for s in samples])
        views = torch.tensor([s["video"].shape[0] for s in samples])
    label = torch.tensor([s["label"] for s in samples]).repeat_interleave(views)
    mask = None
    if samples[0].get("mask") is not None:
        mask = TokenMask.cat([s["mask"] for s in samples])
    return {
        "video": video,
        "plans": plans or None,
        "label": label,
        "mask": mask,
        "index": torch.tensor([s["index"] for s in samples]),
        "bad": torch.tensor([bool(s.get("bad", False)) for s in samples]),  # per sample
        "skipped": [item for s in samples for item in s["skipped"]],
        # motion-guided masks that fell back to tube masks (a sample without motion)
        "without_motion": sum(int(s.get("without_motion", 0)) for s in samples),
        # flow-guided masks made on the device: one seed per view (``mgmae`` with RAFT)
        "mask_seed": torch.tensor([x for s in samples for x in s.get("mask_seed", [])]),
    }
