"""Pre-emption: SIGINT (Ctrl-C), SIGTERM (Slurm, Kubernetes) and SIGUSR1 (Slurm's
``--signal``) ask a run to finish its current step, write a checkpoint and exit cleanly.

A second Ctrl-C while the run is stopping interrupts it at once. Loader workers ignore
these signals (a terminal's Ctrl-C and Slurm's SIGTERM reach the whole process group); the
main process shuts them down when it stops.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType

STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGUSR1") if hasattr(signal, name)
)


def ignore_stop_signals(worker_id: int = 0) -> None:
    """``worker_init_fn`` of the loaders: the main process decides when to stop."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)


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
            raise KeyboardInterrupt  # a second Ctrl-C: stop now
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
