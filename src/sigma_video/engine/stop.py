"""Pre-emption: SIGINT (Ctrl-C), SIGTERM (Slurm, Kubernetes) and SIGUSR1 (Slurm's
``--signal``) ask a run to finish its current step, write a checkpoint and exit cleanly.

A second Ctrl-C while the run is stopping interrupts it at once. Loader workers leave the
main process's process group (a terminal's Ctrl-C and Slurm's SIGTERM reach the whole
group), so only the main process hears these signals; it shuts its workers down when it
stops, and on any error its SIGTERM still ends them (nothing is left waiting on a worker
that ignores it). A worker whose main process dies exits by itself (PyTorch's watchdog).
"""

from __future__ import annotations

import os
import signal
import threading
from types import FrameType, TracebackType

STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGUSR1") if hasattr(signal, name)
)


def detach_worker(worker_id: int = 0) -> None:
    """``worker_init_fn`` of the training loaders: the main process decides when to stop.
    The worker leaves the process group (signals to the group reach the main process
    only) and ignores SIGINT and SIGUSR1; SIGTERM keeps its default, which is how the
    main process (multiprocessing at exit included) ends a worker that does not answer."""
    os.setpgid(0, 0)
    for sig in STOP_SIGNALS:
        if sig != signal.SIGTERM:
            signal.signal(sig, signal.SIG_IGN)


class Interrupted(KeyboardInterrupt):
    """A second Ctrl-C while the run was stopping: it ends at once, without a checkpoint."""


class StopRequest:
    """While entered, a stop signal sets ``signal_name`` instead of killing the process.

    Only the main thread can install handlers; elsewhere (e.g. a library user's worker
    thread) this is a no-op and signals keep their usual effect.
    """

    def __init__(self) -> None:
        self.signal_name: str | None = None
        self._previous: dict[int, object] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signal_name is not None and signum == signal.SIGINT:
            raise Interrupted("interrupted by a second Ctrl-C, without a checkpoint")
        self.signal_name = self.signal_name or signal.Signals(signum).name

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            for sig in STOP_SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()
