"""Running the generators' jobs on a pool of processes (same results, same order as one
process), and how many CPU cores this process may use."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import torch


def _one_thread() -> None:
    torch.set_num_threads(1)


def map_jobs(function: Callable[..., Any], jobs: list[tuple], workers: int) -> list[Any]:
    """``[function(*job) for job in jobs]``, on a pool of ``workers`` processes (fork where
    available, one torch thread each) when there are enough jobs; same results, same order."""
    if workers <= 1 or len(jobs) < 2 * workers:
        return [function(*job) for job in jobs]
    import multiprocessing

    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    context = multiprocessing.get_context(method)
    with context.Pool(workers, initializer=_one_thread) as pool:
        chunk = max(1, len(jobs) // (8 * workers))
        return pool.starmap(function, jobs, chunk)


def usable_cores() -> int:
    """The CPU cores this process may use (its affinity on Linux)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def default_workers() -> int:
    """The CPU cores this process may use, at most 8."""
    return min(8, usable_cores())
