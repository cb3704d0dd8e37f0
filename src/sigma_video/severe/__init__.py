"""The SEVERE generalisation benchmark (Thoker et al., ECCV 2022; SIGMA's Tab. 5): a suite
of fine-tuning tasks — domain shift, sample efficiency, action granularity, task shift
(repetition counting, multi-label) — run from one checkpoint by ``sigma-video severe``."""

from sigma_video.severe.runner import run_suite
from sigma_video.severe.suite import SevereTask, Suite, load_suite

__all__ = ["SevereTask", "Suite", "load_suite", "run_suite"]
