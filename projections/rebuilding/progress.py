"""A progress line on stderr: done/total, events per second and time left."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Redraws in place on a terminal; elsewhere prints a line every few seconds."""

    def __init__(
        self, label: str, total: int, stream: TextIO | None = None, *, enabled: bool = True
    ) -> None:
        self.label = label
        self.total = max(total, 0)
        self.done = 0
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self._tty = self.stream.isatty()
        self._started = time.monotonic()
        self._drawn = self._started  # the first line after one interval, not at once

    def add_total(self, extra: int) -> None:
        self.total += max(extra, 0)

    def advance(self, count: int) -> None:
        self.done += count
        now = time.monotonic()
        if now - self._drawn >= (0.2 if self._tty else 5.0):
            self._draw(now)

    @property
    def rate(self) -> float:
        elapsed = time.monotonic() - self._started
        return self.done / elapsed if elapsed > 0 else 0.0

    def line(self) -> str:
        rate = self.rate
        total = max(self.total, self.done)
        share = self.done / total if total else 1.0
        left = (total - self.done) / rate if rate > 0 else 0.0
        bar = "#" * int(share * 30)
        return (
            f"{self.label} [{bar:<30}] {share:6.1%} {self.done:,}/{total:,} events"
            f"  {rate:,.0f} events/s  ETA {_clock(left)}"
        )

    def finish(self, note: str = "") -> None:
        if not self.enabled:
            return
        elapsed = time.monotonic() - self._started
        end = f"\r{self.line()}" if self._tty else self.line()
        self.stream.write(f"{end}  done in {_clock(elapsed)}{note}\n")
        self.stream.flush()

    def _draw(self, now: float) -> None:
        self._drawn = now
        if not self.enabled:
            return
        self.stream.write(f"\r{self.line()}" if self._tty else self.line() + "\n")
        self.stream.flush()


def _clock(seconds: float) -> str:
    seconds = int(seconds + 0.5)
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
