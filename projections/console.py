"""The `escrowgrid projections ...` commands: run, status, rebuild (escrowgrid/cli.py parses)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import signal
import sys
from collections.abc import Iterator, Sequence
from typing import Any, TextIO

from projections import lag, locks
from projections.base import ProjectionError
from projections.connect import close_quietly, connect
from projections.payloads import PayloadError
from projections.rebuild import rebuild
from projections.registry import select
from projections.runner import ProjectionRunner


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


def run(conninfo: str, names: Sequence[str], *, batch_size: int) -> int:
    """Follow the log until SIGINT or SIGTERM; another process takes over what this one held."""
    projections = select(names)
    runner = ProjectionRunner(conninfo, projections, batch_size=batch_size)

    async def main() -> None:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        print(
            f"escrowgrid: projections runner {runner.application_name} following "
            f"{', '.join(p.name for p in projections)}",
            file=sys.stderr,
            flush=True,
        )
        with contextlib.suppress(asyncio.CancelledError):
            await runner.run()

    asyncio.run(main())
    return 0


async def status_rows(conninfo: str, names: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Per projection: position, head, lag in events and seconds, and who holds it."""
    projections = select(names)
    conn = await connect(conninfo, "escrowgrid-status")
    try:
        lags = await lag.measure(conn, [p.name for p in projections])
        held = await locks.holders(conn, [p.name for p in projections])
    finally:
        await close_quietly(conn)
    return [
        {
            "projection": item.name,
            "position": item.position,
            "head": item.head,
            "lagEvents": item.events,
            "lagSeconds": round(item.seconds, 3),
            "runner": held.get(item.name),
        }
        for item in lags
    ]


def status(conninfo: str, names: Sequence[str], *, as_json: bool, out: TextIO) -> int:
    rows = asyncio.run(status_rows(conninfo, names))
    if as_json:
        out.write(json.dumps(rows, indent=2) + "\n")
        return 0
    header = ("projection", "position", "head", "lag events", "lag s", "runner")
    table = [
        (
            r["projection"],
            str(r["position"]),
            str(r["head"]),
            str(r["lagEvents"]),
            f"{r['lagSeconds']:.3f}",
            r["runner"] or "none",
        )
        for r in rows
    ]
    widths = [max(len(h), *(len(t[i]) for t in table)) for i, h in enumerate(header)]
    for line in (header, *table):
        out.write("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())
        out.write("\n")
    return 0


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
