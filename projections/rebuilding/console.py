"""The `escrowgrid projections rebuild` command, and the garbage-collector setting of batch jobs."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import sys
from collections.abc import Iterator, Sequence
from typing import TextIO

from projections.framework.base import ProjectionError
from projections.framework.payloads import PayloadError
from projections.rebuilding.rebuild import rebuild


@contextlib.contextmanager
def bulk_gc() -> Iterator[None]:
    """Fewer garbage collections while a batch command builds millions of short-lived rows."""
    # Only for one-off commands (rebuild, verify, benchmarks), never inside the API process.
    before = gc.get_threshold()
    gc.set_threshold(200_000, 50, 1000)
    try:
        yield
    finally:
        gc.set_threshold(*before)


def rebuild_command(conninfo: str, names: Sequence[str], *, batch_size: int, out: TextIO) -> int:
    """Rebuild and swap in; the progress bar goes to stderr, the summary to `out`."""
    try:
        with bulk_gc():
            report = asyncio.run(rebuild(conninfo, names or None, batch_size=batch_size))
    except (ProjectionError, PayloadError) as exc:
        # The live runner is stuck on the same event; the copy built so far resumes next time.
        print(f"escrowgrid: rebuild stopped at an event it cannot project: {exc}", file=sys.stderr)
        return 1
    resumed = f" (resumed: {', '.join(report.resumed)})" if report.resumed else ""
    out.write(
        f"escrowgrid: rebuilt {', '.join(report.names)} up to position {report.position}: "
        f"{report.events:,} events in {report.seconds:.1f} s "
        f"({report.events_per_second:,.0f} events/s){resumed}\n"
    )
    return 0
