"""The `escrowgrid projections run` and `status` commands (escrowgrid/cli.py parses)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from projections.registry import INLINE, select
from projections.runner import lag, locks
from projections.runner.connect import close_quietly, connect
from projections.runner.runner import ProjectionRunner


def run(runner: ProjectionRunner) -> int:
    """Follow the log until SIGINT or SIGTERM; another process takes over what this one held."""
    projections = runner.projections

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


INLINE_RUNNER = "inline (in the appends)"
_INLINE = frozenset(p.name for p in INLINE)


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
            "runner": INLINE_RUNNER if item.name in _INLINE else held.get(item.name),
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
