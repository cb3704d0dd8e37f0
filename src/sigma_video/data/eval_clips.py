"""Evaluation clips: every video's fixed views, the same at each pass, never replaced."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from sigma_video.data.annotations import VideoRecord
from sigma_video.data.dataset import ClipConfig, VideoClips
from sigma_video.data.decode import Backend, DecodeError
from sigma_video.data.sampling import segment_indices, uniform_clip_indices
from sigma_video.data.transforms import crop_resize, spatial_crop_boxes


class EvalClips(VideoClips):
    """Evaluation views: ``num_clips`` uniformly spaced clips × ``num_crops`` spatial crops
    (short side resized to ``size``), ``video`` ``uint8 (clips·crops, 3, T, S, S)``.

    A bad sample is not replaced (that would change the test set): it raises
    ``DecodeError``, or with ``skip_bad`` comes back as zeros marked ``bad`` (with the
    reason in ``skipped``) for the evaluation to leave out and count.
    """

    def __init__(
        self,
        records: Sequence[VideoRecord],
        clip: ClipConfig | None = None,
        num_clips: int = 1,
        num_crops: int = 1,
        backend: str | Backend = "pyav",
        time_limit: float = 30.0,
        skip_bad: bool = False,
    ) -> None:
        super().__init__(records, clip, backend, time_limit=time_limit)
        if num_clips < 1 or num_crops < 1:
            raise ValueError(f"num_clips and num_crops must be >= 1, got {num_clips}, {num_crops}")
        self.num_clips, self.num_crops, self.skip_bad = num_clips, num_crops, skip_bad

    def __getitem__(self, key: int | tuple[int, int]) -> dict:
        index = key[0] if isinstance(key, tuple) else key
        try:
            return self.views(index)
        except DecodeError as err:
            if not self.skip_bad:
                raise
            self._log_once(err)
            c, count = self.clip, self.num_clips * self.num_crops
            video = torch.zeros((count, 3, c.num_frames, c.size, c.size), dtype=torch.uint8)
            label = self.records[index].label
            skipped = [(err.path, err.reason)]
            return {"video": video, "label": label, "index": index, "skipped": skipped, "bad": True}

    def views(self, index: int) -> dict:
        """All views of video ``index`` (raises ``DecodeError``)."""
        record = self.records[index]
        n, c = self.num_frames(record), self.clip
        if c.sampling == "segments":
            positions = [(j + 0.5) / self.num_clips for j in range(self.num_clips)]
            clips = [segment_indices(n, c.num_frames, position=p) for p in positions]
        else:
            clips = uniform_clip_indices(n, c.num_frames, c.stride, self.num_clips, c.pad)
        views = []
        for indices in clips:
            frames = self.decode(record, indices)
            for box in spatial_crop_boxes(frames.shape[1], frames.shape[2], self.num_crops):
                views.append(crop_resize(frames, box, c.size))
        video = torch.stack(views)
        return {"video": video, "label": record.label, "index": index, "skipped": [], "mask": None}
