"""Benchmarks that print numbers (``sigma-video bench``): ``core`` (Sinkhorn, one training
step), ``data`` (loader throughput, the whole pipeline), ``evaluation`` (probe, kNN,
segmentation beyond features), ``timing`` (shared clock and FLOP helpers) and ``cli`` (the
sub-commands). Names below are imported on first use."""

from typing import TYPE_CHECKING

from sigma_video.lazy import lazy_getattr

_LAZY = {
    "bench_sinkhorn": "sigma_video.bench.core",
    "bench_step": "sigma_video.bench.core",
    "bench_data": "sigma_video.bench.data",
    "bench_pipeline": "sigma_video.bench.data",
    "bench_probe": "sigma_video.bench.evaluation",
    "bench_segment": "sigma_video.bench.evaluation",
    "device_name": "sigma_video.bench.timing",
    "known_peak_tflops": "sigma_video.bench.timing",
    "step_flops": "sigma_video.bench.timing",
    "summary": "sigma_video.bench.timing",
    "time_calls": "sigma_video.bench.timing",
}

if TYPE_CHECKING:
    from sigma_video.bench.core import bench_sinkhorn, bench_step
    from sigma_video.bench.data import bench_data, bench_pipeline
    from sigma_video.bench.evaluation import bench_probe, bench_segment
    from sigma_video.bench.timing import (
        device_name,
        known_peak_tflops,
        step_flops,
        summary,
        time_calls,
    )


__getattr__ = lazy_getattr(__name__, _LAZY)

__all__ = [
    "bench_data",
    "bench_pipeline",
    "bench_probe",
    "bench_segment",
    "bench_sinkhorn",
    "bench_step",
    "device_name",
    "known_peak_tflops",
    "step_flops",
    "summary",
    "time_calls",
]
