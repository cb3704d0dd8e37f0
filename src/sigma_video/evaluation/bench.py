"""Deprecated location: ``sigma_video.bench.evaluation``."""

from sigma_video.bench.evaluation import bench_probe, bench_segment

__all__ = ["bench_probe", "bench_segment"]
