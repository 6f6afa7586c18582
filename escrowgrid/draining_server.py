"""Granian serving on a listening socket of ours, drained before its workers are stopped.

On SIGTERM Granian stops its workers, which answer what they have accepted; connections still
in the kernel's accept queue would be reset. Here the main process owns the sockets (one per
worker, SO_REUSEPORT, as Granian binds its own on Linux: one socket shared by every worker
measured about a third fewer requests a second, the kernel waking one worker for most
connections), so on stop it first turns new connections away and waits until the workers have
accepted the queues (escrowgrid/listen_socket.py), then lets Granian stop them, then closes
the sockets. A respawned worker takes its predecessor's socket and its queue.
Linux only (a socket filter, TCP_INFO). Relies on Granian 2.8's socket-holder path (the one it
takes off Linux), so pyproject.toml pins Granian to 2.8.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import threading
from collections.abc import Sequence
from typing import Any

from granian._granian import SocketHolder
from granian.server import MPServer

from escrowgrid import listen_socket

log = logging.getLogger("escrowgrid.serve")
REPEAT_SIGNAL_SECONDS = 0.25


class DrainingGranian(MPServer):
    """Granian whose worker i serves `listeners[i]`; stop drains their accept queues for
    `drain_seconds`."""

    def __init__(
        self, listeners: Sequence[socket.socket], drain_seconds: float, **options: Any
    ) -> None:
        # The workers inherit the socket's descriptor: they must be forked (Python 3.14 would
        # default to forkserver, for which Granian spawns, and a spawned worker has no such fd).
        if multiprocessing.get_start_method(allow_none=True) != "fork":
            multiprocessing.set_start_method("fork", force=True)
        super().__init__(**options)
        if len(listeners) != self.workers:
            raise ValueError(f"{len(listeners)} sockets for {self.workers} workers")
        self._listeners = list(listeners)
        self._drain_seconds = drain_seconds

    def _init_shared_socket(self) -> None:
        """Nothing shared: each worker gets its own socket in _spawn_worker."""
        self._ssp = None
        self._shd = None
        self._sfd = None
        self._sso = None

    def _spawn_worker(self, idx: int, target: Any, callback_loader: Any) -> Any:  # type: ignore[override]  # MPServer's takes three
        # What Granian does with a socket it built itself where it shares one (macOS, Windows):
        # the holder goes to the worker (forked: the descriptor is inherited). Granian reads the
        # holder from these attributes when it builds the worker's arguments.
        listener = self._listeners[idx]
        # Granian's stub names neither this constructor nor these attributes' types.
        self._shd = SocketHolder(listener.fileno(), False, self.backlog)  # type: ignore[call-arg,assignment]
        self._sfd = listener.fileno()  # type: ignore[assignment]
        self._sso = listener
        granian: Any = super()
        return granian._spawn_worker(idx, target, callback_loader)

    def _drop_shared_socket(self) -> None:
        """Kept open until the workers are gone (shutdown closes it)."""

    def _stop_workers(self) -> None:
        # A worker's asyncio loop learns of a signal through its wakeup pipe, which Granian also
        # writes to for every request: under load it can be full and the signal is lost (Python
        # prints "Exception ignored when trying to write to the signal wakeup fd"), and the
        # worker would be killed with requests in flight. So the signal is repeated until it exits.
        done = threading.Event()

        def repeat() -> None:
            while not done.wait(REPEAT_SIGNAL_SECONDS):
                running: list[Any] = list(self.wrks)
                for worker in running:
                    if worker.is_alive():
                        worker.terminate()

        workers: list[Any] = list(self.wrks)
        granian: Any = super()  # its methods are untyped
        repeater = threading.Thread(target=repeat, name="repeat-stop-signal", daemon=True)
        repeater.start()
        try:
            granian._stop_workers()
        finally:
            done.set()
            repeater.join()
        for worker in workers:
            # Killed after workers_kill_timeout: what it still had in flight was cut off.
            if getattr(worker.inner, "exitcode", None) == -signal.SIGKILL:
                number = worker.idx + 1
                log.warning("worker killed after the stop timeout", extra={"worker": number})

    def shutdown(self, exit_code: int = 0) -> None:
        workers: list[Any] = list(self.wrks)
        for worker in workers:
            # A worker that ends during the drain (a signal to the whole process group reached
            # it too) is stopping, not failing: otherwise Granian would exit 1.
            worker.interrupt_by_parent = True

        def accepting() -> bool:
            return any(worker.is_alive() for worker in workers)

        try:
            left = listen_socket.drain(self._listeners, self._drain_seconds, accepting)
            if left:
                log.warning("stopping with connections not accepted", extra={"queued": left})
            granian: Any = super()
            granian.shutdown(exit_code)
        finally:
            for listener in self._listeners:
                listener.close()
