"""In-process progress signals: a runner tells waiters of the same process what it committed."""

# Waiters of other processes hear the same news through NOTIFY on `escrowgrid_projections`;
# this path saves the round trip through the database when runner and API share a process.

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping

Listener = Callable[[Mapping[str, int]], None]


class ProgressBus:
    """Fan-out of {projection: position} after each committed batch."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Register a listener (called in the publisher's thread); returns the unsubscriber."""
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def publish(self, positions: Mapping[str, int]) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener(positions)


BUS = ProgressBus()
