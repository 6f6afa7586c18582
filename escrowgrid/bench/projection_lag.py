"""`escrowgrid projections bench-live`: commit-to-visible lag under a write load."""

# Concurrent commands for a while with the runner in another process; per command, the time
# from its durable commit to every read model showing it (what read-your-writes waits), and the
# command's own latency beside it; figures for docs/read-side.md.

from __future__ import annotations

import asyncio
import multiprocessing
import os
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import uuid4

import psycopg

from escrowgrid import bootstrap
from escrowgrid.bench.read_side_cluster import MOVES, cluster, describe_machine
from escrowgrid.domain.asset import Asset
from escrowgrid.domain.asset_template import AssetTemplate
from escrowgrid.domain.institution import Institution
from escrowgrid.domain.position import Position
from escrowgrid.eventlog.appender import Appender
from escrowgrid.eventlog.codec import EventCodec
from escrowgrid.eventlog.records import AppendRequest
from projections.runner.waiting import ProjectionWaiter


def _percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))]


class _Load:
    """Position commands (open, FUNDED, PARTIALLY_RELEASED, RELEASED) through the appender."""

    def __init__(self, appender: Appender) -> None:
        self.codec = EventCodec()
        self.appender = appender
        self.institution = Institution.register("Bench Bank", ["US"])
        self.template = AssetTemplate.define(
            self.institution.id, code="CONSTR_ESCROW", name="Escrow", vertical="CONSTRUCTION",
            region="US", config={"currency": "USD", "region": "US"},
        )  # fmt: skip
        self.asset = Asset.register(self.institution.id, self.template, "Tower A")

    async def append(self, *aggregates: Any) -> int:
        # Each command its own audit record, as the command layer writes them.
        meta: dict[str, object] = {
            "commandId": str(uuid4()),
            "action": "bench",
            "institutionId": str(self.institution.id),
        }
        done = await self.appender.append(
            AppendRequest(self.codec.pending(*aggregates), self.institution.id, meta)
        )
        assert done.last_position is not None
        return done.last_position


async def _run_load(
    dsn: str, seconds: float, writers: int, *, wait: bool
) -> tuple[list[float], list[float]]:
    """Commands for `seconds`: (append latencies, commit-to-visible lags of waited commands)."""
    # wait=False: writers append as fast as they can (the write load of the write-model
    # benchmark; the lag is measured by an observer process); wait=True: each writer waits for
    # its command to be visible before the next one (read-your-writes, as the API does).
    wired = bootstrap.build(dsn, pool_size=bootstrap.PoolSize(min_size=2, max_size=8))
    await wired.start()
    waiter = ProjectionWaiter()
    await waiter.start(dsn)
    load = _Load(wired.appender)
    await load.append(load.institution, load.template, load.asset)
    appends: list[float] = []
    lags: list[float] = []
    deadline = time.monotonic() + seconds

    async def writer() -> None:
        while time.monotonic() < deadline:
            position = Position.open(
                load.institution.id, asset=load.asset, template=load.template,
                holder_reference="h", currency="USD", amount=Decimal("1000.00"),
            )  # fmt: skip
            for step in range(len(MOVES) + 1):
                if step:
                    state, amount = MOVES[step - 1]
                    position.move(state, amount=amount)
                started = time.perf_counter()
                at = await load.append(position)
                committed = time.perf_counter()
                appends.append(committed - started)
                if wait:
                    if not await waiter.wait_for(at, timeout=30.0):
                        raise RuntimeError(f"position {at} not projected within 30 s")
                    lags.append(time.perf_counter() - committed)

    try:
        await asyncio.gather(*(writer() for _ in range(writers)))
    finally:
        await waiter.stop()
        await wired.stop()
    return appends, lags


def _observe(dsn: str, ready: Any, stop: Any, out: Any) -> None:
    """Another process: the wall-clock time at which every projection reached each position,
    from the runner's NOTIFYs (nothing else runs in this process, so it hears them at once)."""

    async def main() -> list[tuple[int, float]]:
        waiter = ProjectionWaiter()
        await waiter.start(dsn)
        seen: list[tuple[int, float]] = []
        ready.set()
        last = waiter.reached
        while not stop.is_set():
            if await waiter.wait_for(last + 1, timeout=0.2):
                last = waiter.reached
                seen.append((last, time.time()))
        await waiter.stop()
        return seen

    out.put(asyncio.run(main()))


def _lags_from_log(dsn: str, seen: list[tuple[int, float]], after: int) -> list[float]:
    """For each event after `after`: first time every projection had reached it, minus the
    time it was recorded (recorded_at is taken inside the appending transaction)."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT position, extract(epoch FROM recorded_at)::float8 FROM events"
            " WHERE position > %s ORDER BY position",
            (after,),
        ).fetchall()
    lags: list[float] = []
    index = 0
    for position, recorded in rows:
        while index < len(seen) and seen[index][0] < position:
            index += 1
        if index == len(seen):
            break
        lags.append(max(0.0, seen[index][1] - float(recorded)))
    return lags


def _head(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT coalesce(max(position), 0) FROM events").fetchone()
    return int(row[0]) if row else 0


def live_benchmark(seconds: float, writers: int, data_root: Path) -> str:
    pg, dsn = cluster(data_root)
    runner = subprocess.Popen(
        [sys.executable, "-m", "escrowgrid.cli", "projections", "run"],
        env={**os.environ, "DATABASE_URL": dsn, "LOG_LEVEL": "warning"},
        stderr=subprocess.DEVNULL,
    )
    ctx = multiprocessing.get_context("spawn")
    ready, stop, out = ctx.Event(), ctx.Event(), ctx.Queue()
    observer = ctx.Process(target=_observe, args=(dsn, ready, stop, out))
    try:
        time.sleep(2.0)  # the runner takes its locks
        machine = describe_machine(dsn)
        observer.start()
        ready.wait(30)
        before = _head(dsn)
        open_appends, _ = asyncio.run(_run_load(dsn, seconds, writers, wait=False))
        time.sleep(2.0)  # the runner catches up
        stop.set()
        open_lags = _lags_from_log(dsn, out.get(timeout=60), before + 3)
        observer.join(30)
        closed_loop = asyncio.run(_run_load(dsn, seconds, writers, wait=True))
    finally:
        if observer.is_alive():
            observer.kill()
        runner.terminate()
        runner.wait(30)
        pg.destroy()
    lines = [
        "| load | commands/s | measure | p50 ms | p90 ms | p99 ms | max ms |",
        "|---|---:|---|---:|---:|---:|---:|",
    ]
    closed_appends, closed_lags = closed_loop
    for label, appends, lags, paired in (
        ("writers do not wait (max write load)", open_appends, open_lags, False),
        ("each writer waits (read-your-writes)", closed_appends, closed_lags, True),
    ):
        rate = f"{len(appends) / seconds:,.0f}"
        rows = [("append (durable commit)", appends), ("commit to visible in every model", lags)]
        if paired:  # each wait follows its own append
            rows.append(("append + wait", [a + w for a, w in zip(appends, lags, strict=True)]))
        for measure, values in rows:
            lines.append(f"| {label} | {rate} | {measure} | {_ms(values)} |")
    lines += [
        "",
        f"{writers} concurrent writers, {seconds:.0f} s per load, runner in its own process "
        f"(`escrowgrid projections run`). Without waiting, the lag of every event is the time "
        f"an observer process heard that all projections passed it, minus the event's "
        f"recorded_at; with waiting, it is what the writer itself waited. Machine: {machine}",
    ]
    return "\n".join(lines)


def _ms(values: list[float]) -> str:
    return " | ".join(f"{_percentile(values, p) * 1000:.1f}" for p in (50, 90, 99, 100))
