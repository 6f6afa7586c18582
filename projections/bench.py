"""Read-side benchmarks (figures for docs/read-side.md), each on its own durable PostgreSQL."""

# - `escrowgrid projections bench-rebuild --events N`: generate a log of N events with the real
#   aggregates, then rebuild the positions read model from it (and then every read model).
# - `escrowgrid projections bench-live`: concurrent commands for a while with the runner in
#   another process; per command, the time from its durable commit to every read model showing
#   it (what read-your-writes waits), and the command's own latency beside it.

from __future__ import annotations

import asyncio
import multiprocessing
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import psycopg

from escrowgrid import bootstrap
from escrowgrid.domain.asset import Asset
from escrowgrid.domain.asset_template import AssetTemplate
from escrowgrid.domain.institution import Institution
from escrowgrid.domain.position import Position
from escrowgrid.embedded_pg import EmbeddedPostgres
from escrowgrid.eventlog.appender import Appender
from escrowgrid.eventlog.codec import EventCodec
from escrowgrid.eventlog.hashing import canonical_meta, event_hash
from escrowgrid.eventlog.records import AppendRequest, PendingEvent
from escrowgrid.migrations import migrate
from projections.console import bulk_gc
from projections.rebuild import rebuild
from projections.waiting import ProjectionWaiter

OPEN_POSITIONS = 10_000  # moves pick a random open position: a position lives ~40,000 events
MOVES = (("FUNDED", None), ("PARTIALLY_RELEASED", Decimal("100.5")), ("RELEASED", None))
CHUNK = 50_000


def _cluster(data_root: Path) -> tuple[EmbeddedPostgres, str]:
    data_root.mkdir(parents=True, exist_ok=True)
    pg = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="bench-read-", dir=data_root)))
    pg.start()
    with psycopg.connect(pg.admin_dsn(), autocommit=True) as conn:
        conn.execute("CREATE DATABASE bench_read OWNER escrowgrid")
    dsn = f"postgresql://escrowgrid@/bench_read?host={pg.socket_dir}"
    migrate(dsn)
    return pg, dsn


def _machine(dsn: str) -> str:
    with psycopg.connect(dsn) as conn:
        settings: dict[str, str] = dict(
            conn.execute(
                "SELECT name, setting FROM pg_settings WHERE name IN"
                " ('server_version', 'fsync', 'synchronous_commit', 'shared_buffers')"
            ).fetchall()
        )
    return (
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"PostgreSQL {settings.get('server_version')} fsync={settings.get('fsync')} "
        f"synchronous_commit={settings.get('synchronous_commit')} "
        f"shared_buffers={settings.get('shared_buffers')} (8 kB pages)"
    )


# -- the log -----------------------------------------------------------------------------------


class _LogWriter:
    """Appends events straight to the table by COPY, as the appender would write them: under
    the table lock, hash-chained, with command metadata."""

    def __init__(self, conn: psycopg.Connection[Any], tenant: UUID) -> None:
        self.conn = conn
        self.tenant = str(tenant)
        self.heads: dict[UUID, bytes] = {}
        self.rows: list[tuple[object, ...]] = []
        self.count = 0

    def add(self, events: list[PendingEvent], action: str) -> None:
        meta: dict[str, object] = {
            "action": action,
            "actorKeyId": "root",
            "actorRole": "root",
            "institutionId": self.tenant,
            "requestId": f"bench-{self.count}",
            "clientAddr": "127.0.0.1",
        }
        meta_bytes = canonical_meta(meta)
        for event in events:
            prev = self.heads.get(event.stream_id)
            digest = event_hash(
                prev, event.stream_id, event.version, event.topic, event.state, meta_bytes
            )
            self.heads[event.stream_id] = digest
            self.rows.append(
                (event.stream_id, event.version, event.topic, event.state, self.tenant,
                 meta_bytes.decode(), prev, digest)
            )  # fmt: skip
            self.count += 1
        if len(self.rows) >= CHUNK:
            self.flush()

    def forget(self, stream_id: UUID) -> None:
        self.heads.pop(stream_id, None)

    def flush(self) -> None:
        if not self.rows:
            return
        with self.conn.transaction():
            self.conn.execute("LOCK TABLE events IN EXCLUSIVE MODE")
            with self.conn.cursor().copy(
                "COPY events (stream_id, version, topic, state, tenant_id, meta, prev_hash, hash)"
                " FROM STDIN"
            ) as copy:
                for row in self.rows:
                    copy.write_row(row)
        self.rows.clear()


def generate_log(dsn: str, events: int, seed: int = 7) -> int:
    """A log of about `events` events: one institution, template and asset, then positions
    opened and moved through FUNDED, PARTIALLY_RELEASED and RELEASED, interleaved."""
    codec = EventCodec()
    rnd = random.Random(seed)
    institution = Institution.register("Bench Bank", ["US"])
    template = AssetTemplate.define(
        institution.id, code="CONSTR_ESCROW", name="Escrow", vertical="CONSTRUCTION",
        region="US", config={"currency": "USD", "region": "US"},
    )  # fmt: skip
    asset = Asset.register(institution.id, template, "Tower A", {"floors": 40})
    with psycopg.connect(dsn) as conn:
        log = _LogWriter(conn, institution.id)
        log.add(codec.pending(institution), "institution.register")
        log.add(codec.pending(template), "asset_template.define")
        log.add(codec.pending(asset), "asset.register")
        open_: list[tuple[Position, int]] = []
        while log.count < events:
            if len(open_) < OPEN_POSITIONS:
                position = Position.open(
                    institution.id, asset=asset, template=template,
                    holder_reference=f"holder-{rnd.randrange(1000)}", currency="USD",
                    amount=Decimal("1000.00"),
                )  # fmt: skip
                log.add(codec.pending(position), "position.open")
                open_.append((position, 0))
                continue
            index = rnd.randrange(len(open_))
            position, step = open_[index]
            state, amount = MOVES[step]
            metadata = {"milestone": step, "share": Decimal("0.25")} if step == 1 else None
            position.move(state, reason=f"step {step}", metadata=metadata, amount=amount)
            log.add(codec.pending(position), "position.move")
            if step + 1 == len(MOVES):
                open_[index] = open_[-1]
                open_.pop()
                log.forget(position.id)
            else:
                open_[index] = (position, step + 1)
        log.flush()
        conn.execute("ANALYZE events")
        return log.count


def _settle(pg: EmbeddedPostgres) -> float:
    """Leave the log as a rebuild finds it in service: vacuumed (hint bits set, as autovacuum
    leaves any table) and checkpointed. A table's first reader after a bulk write pays for
    setting hint bits, which is the generator's cost, not the rebuild's."""
    started = time.monotonic()
    with psycopg.connect(pg.admin_dsn("bench_read"), autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) events")
        conn.execute("CHECKPOINT")
    return time.monotonic() - started


def rebuild_benchmark(events: int, batch_size: int, data_root: Path) -> str:
    pg, dsn = _cluster(data_root)
    try:
        started = time.monotonic()
        count = generate_log(dsn, events)
        generated = time.monotonic() - started
        settled = _settle(pg)
        lines = [
            f"log: {count:,} events generated in {generated:.0f} s, vacuumed in {settled:.1f} s",
            "",
            "| rebuild | events read | seconds | events/s | load s | index s | swap s |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        with bulk_gc():
            for names in (["positions"], None):
                report = asyncio.run(
                    rebuild(dsn, names, batch_size=batch_size, show_progress=sys.stderr.isatty())
                )
                phases = report.phases
                lines.append(
                    f"| {', '.join(names) if names else 'all read models'} | {report.events:,} "
                    f"| {report.seconds:.1f} | {report.events_per_second:,.0f} "
                    f"| {phases.get('load', 0):.1f} | {phases.get('index', 0):.1f} "
                    f"| {phases.get('swap', 0):.2f} |"
                )
        lines += ["", f"batch {batch_size:,} events; machine: {_machine(dsn)}"]
        return "\n".join(lines)
    finally:
        pg.destroy()


# -- live lag ------------------------------------------------------------------------------------


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
    pg, dsn = _cluster(data_root)
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
        machine = _machine(dsn)
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
