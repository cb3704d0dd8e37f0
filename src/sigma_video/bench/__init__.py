"""Benchmarks that print numbers (``sigma-video bench``): ``core`` (Sinkhorn, one training
step), ``data`` (loader throughput, the whole pipeline), ``evaluation`` (probe, kNN,
segmentation beyond features), ``timing`` (shared clock and FLOP helpers) and ``cli`` (the
sub-commands). Names below are imported on first use."""

from typing import TYPE_CHECKING

_LAZY = {
    "bench_sinkhorn": "sigma_video.bench.core",
    "bench_step": "sigma_video.bench.core",
    "bench_data": "sigma_video.bench.data",
    "bench_pipeline": "sigma_video.bench.data",
    "bench_probe": "sigma_video.bench.evaluation",
    "bench_segment": "sigma_video.bench.evaluation",
    "device_name": "sigma_video.bench.timing",
}

if TYPE_CHECKING:
    from sigma_video.bench.core import bench_sinkhorn, bench_step
    from sigma_video.bench.data import bench_data, bench_pipeline
    from sigma_video.bench.evaluation import bench_probe, bench_segment
    from sigma_video.bench.timing import device_name


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'sigma_video.bench' has no attribute {name!r}")


__all__ = [
    "bench_data",
    "bench_pipeline",
    "bench_probe",
    "bench_segment",
    "bench_sinkhorn",
    "bench_step",
    "device_name",
]
