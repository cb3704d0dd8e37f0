"""Video data: annotation lists, decoding, sampling, augmentation, datasets."""

from sigma_video.data.annotations import VideoRecord, read_folder, read_list, read_ssv2
from sigma_video.data.collate import collate
from sigma_video.data.dataset import ClipConfig, VideoClips
from sigma_video.data.decode import DecodeError, available_backends, get_backend
from sigma_video.data.eval_clips import EvalClips
from sigma_video.data.skips import DataError, SkipCounter
from sigma_video.data.transforms import normalize

__all__ = [
    "ClipConfig",
    "DataError",
    "DecodeError",
    "EvalClips",
    "SkipCounter",
    "VideoClips",
    "VideoRecord",
    "available_backends",
    "collate",
    "get_backend",
    "normalize",
    "read_folder",
    "read_list",
    "read_ssv2",
]
