"""The live projector: catches up in large batches, then follows the log as it grows."""

# Each batch is one transaction: lock the tracking rows, read the events after them, apply every
# projection, record the new positions, NOTIFY `escrowgrid_projections`, commit. Killed at any
# instant, the transaction either happened whole or not at all, so a restart resumes exactly.
#
# Two connections: `control` holds the per-projection advisory locks (session-level: they go
# when the process dies) and LISTENs on `escrowgrid_events`; `work` runs the batches. A process
# that does not hold a projection's lock retries it every `lock_interval` seconds, which is how
# another process takes over within seconds of a runner dying.

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import AsyncConnection

from escrowgrid.eventlog.appender import NOTIFY_CHANNEL as EVENTS_CHANNEL
from projections.framework.base import LIVE, SMALL_BATCH, Projection, pipelined
from projections.registry import FOLLOWED
from projections.runner import lag, locks, metrics, tracking
from projections.runner.batches import (
    Batch,
    Planned,
    Step,
    apply_batch,
    batch_read,
    read_for,
    send_read_for,
)
from projections.runner.connect import close_quietly, connect
from projections.runner.signals import BUS

log = logging.getLogger("escrowgrid.projections")

PROJECTIONS_CHANNEL = "escrowgrid_projections"
MAX_BACKOFF = 30.0
STOP_TIMEOUT = 10.0


class ProjectionRunner:
    """Runs the given projections (every followed one by default: not the inline ones) in this
    process while it holds their locks."""

    def __init__(
        self,
        conninfo: str,
        projections: Sequence[Projection] | None = None,
        *,
        batch_size: int = 5000,
        poll_interval: float = 1.0,
        lock_interval: float = 1.0,
        application_name: str | None = None,
    ) -> None:
        self._conninfo = conninfo
        self._projections = tuple(projections or FOLLOWED)
        self._steps = {p.name: Step(p, LIVE) for p in self._projections}
        self.batch_size = batch_size
        self.poll_interval = poll_interval  # fallback when a NOTIFY is lost
        self.lock_interval = lock_interval
        self.application_name = application_name or f"escrowgrid-projections:{os.getpid()}"
        self._owned: set[str] = set()
        self._failing: dict[str, tuple[float, int]] = {}  # name: (retry at, failures in a row)
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._work: AsyncConnection[Any] | None = None
        self._following = False  # the last batch was not full: the next one will be small
        # Tracking positions as this runner last committed or read them under the lock; a
        # rebuild's swap or a second runner may have moved them since.
        self._known: dict[str, int] = {}

    @property
    def projections(self) -> tuple[Projection, ...]:
        """The read models this runner follows the log for."""
        return self._projections

    @property
    def owned(self) -> frozenset[str]:
        """Projections whose advisory lock this runner holds."""
        return frozenset(self._owned)

    async def start(self) -> None:
        """Start following in background tasks; returns at once (the database may be down)."""
        if self._tasks:
            return
        self._tasks = [
            asyncio.create_task(self._control_loop(), name="projections-control"),
            asyncio.create_task(self._work_loop(), name="projections-work"),
        ]

    async def stop(self) -> None:
        """Stop after the current batch is cancelled or committed; release every lock."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        if tasks:
            _, stuck = await asyncio.wait(tasks, timeout=STOP_TIMEOUT)
            if stuck:  # never hang a shutdown: the connections are closed below anyway
                log.warning("projection runner tasks did not stop", extra={"tasks": len(stuck)})
        await close_quietly(self._work)
        self._work = None
        self._owned.clear()

    async def run(self) -> None:
        """Run until cancelled (the standalone `escrowgrid projections run`)."""
        await self.start()
        try:
            await asyncio.gather(*self._tasks)
        finally:
            await self.stop()

    # -- control: locks, wake-ups, lag ------------------------------------------------------

    async def _control_loop(self) -> None:
        backoff = 0.5
        while True:
            conn: AsyncConnection[Any] | None = None
            try:
                conn = await connect(self._conninfo, self.application_name)
                await conn.execute(f"LISTEN {EVENTS_CHANNEL}")
                self._wake.set()  # anything appended while nobody listened
                backoff = 0.5
                while True:
                    await self._acquire(conn)
                    lag.publish(await lag.measure(conn, self._steps))
                    async for _ in conn.notifies(timeout=self.lock_interval):
                        self._wake.set()
            except Exception as exc:  # the control loop must outlive any failure
                if not isinstance(exc, psycopg.Error | OSError):
                    log.exception("projection control loop failed; reconnecting")
                if self._owned:
                    log.warning(
                        "projection locks lost with the control connection",
                        extra={"projections": sorted(self._owned), "error": str(exc)},
                    )
                self._owned.clear()
                await close_quietly(conn)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
            except asyncio.CancelledError:
                self._owned.clear()
                await close_quietly(conn)
                raise

    async def _acquire(self, conn: AsyncConnection[Any]) -> None:
        free = [name for name in self._steps if name not in self._owned]
        if not free:
            return
        won = await locks.try_acquire(conn, free)
        if won:
            self._owned |= won
            log.info("projections taken", extra={"projections": sorted(won)})
            self._wake.set()

    # -- work: batches ----------------------------------------------------------------------

    async def _work_loop(self) -> None:
        backoff = 0.5
        while True:
            steps = self._runnable()
            if not steps:
                await self._sleep()
                continue
            self._wake.clear()  # cleared before reading, so a NOTIFY during the batch counts
            try:
                conn = await self._connection()
                more = await self._run_batch(conn, steps)
                backoff = 0.5
            except (psycopg.OperationalError, OSError) as exc:
                # Connection trouble, deadlock or cancellation: nothing was committed; retry.
                log.warning("projection batch interrupted", extra={"error": str(exc)})
                await self._drop_broken()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
                continue
            except Exception:
                # Anything else outside a batch (say, tables not migrated yet) must not end the
                # loop: the API process would go on without read models and nobody would know.
                log.exception("projection runner failed; retrying")
                await self._drop_broken()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
                continue
            if not more:
                await self._sleep()

    async def _drop_broken(self) -> None:
        if self._work is not None and (self._work.broken or self._work.closed):
            await close_quietly(self._work)
            self._work = None

    def _runnable(self) -> list[Step]:
        now = time.monotonic()
        return [
            step
            for name, step in self._steps.items()
            if name in self._owned and self._failing.get(name, (0.0, 0))[0] <= now
        ]

    async def _sleep(self) -> None:
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
        # races its timeout, and stop() would then wait for this loop forever.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.poll_interval):
                await self._wake.wait()
        # A runner holding nothing must not spin on a wake-up it will never clear in a batch.
        self._wake.clear()

    async def _connection(self) -> AsyncConnection[Any]:
        if self._work is None or self._work.closed:
            self._work = await connect(self._conninfo, self.application_name)
            # A batch need not wait for its own fsync: a crash loses rows and tracking together
            # (the batch is simply projected again), and its WAL follows the events' WAL, so it
            # can never outlive events the crash took. This keeps an fsync out of the lag.
            await self._work.execute("SET synchronous_commit = off")
            await tracking.ensure_rows(self._work, self._steps)
        return self._work

    async def _run_batch(self, conn: AsyncConnection[Any], steps: list[Step]) -> bool:
        """One batch for all steps; on a failure, find the failing projection by itself."""
        try:
            return await self._batch(conn, steps)
        except (psycopg.OperationalError, OSError):
            raise
        except Exception:
            if len(steps) == 1:
                self._failed(steps[0].name)
                return False
        more = False
        for step in steps:  # isolate: the healthy ones go on without the failing one
            try:
                more = await self._batch(conn, [step]) or more
            except (psycopg.OperationalError, OSError):
                raise
            except Exception:
                self._failed(step.name)
        return more

    async def _batch(self, conn: AsyncConnection[Any], steps: list[Step]) -> bool:
        """One transaction; True when the batch was full (more events are waiting)."""
        started = time.perf_counter()
        names = [s.name for s in steps]
        # Following the head (the last batch was not full), batches are small and take two round
        # trips where they took five: BEGIN, the lock and the read in one, the writes, the new
        # positions and COMMIT in the other. Each wait for an answer is also a turn in an event
        # loop the HTTP tasks share, which is most of the projection lag under load. The read is
        # sent before the lock has answered, from the positions this runner committed last; it
        # is used only if the lock finds the same start (each model then takes the events past
        # its own position, as from any read). Catching up, batches are large and write by
        # COPY, which pipeline mode forbids.
        following = self._following
        limit = min(SMALL_BATCH, self.batch_size) if following else self.batch_size
        after = self._ahead(names) if following else None
        try:
            async with conn.pipeline() if following else contextlib.nullcontext():
                await conn.execute(b"BEGIN")
                lock = await tracking.send_lock(conn, names)
                ahead = None if after is None else await send_read_for(conn, steps, after, limit)
            positions, head = await tracking.locked(lock)
            if len(positions) < len(names):
                await tracking.ensure_rows(conn, names)
                positions, head = await tracking.lock_positions(conn, names)
            start = min(positions.values())
            if ahead is not None and start == after:
                batch = await batch_read(ahead, head, limit)
            elif start >= head:
                batch = Batch([], start)
            else:
                batch = await read_for(conn, steps, start, head, limit)
            if not batch.events and batch.reached <= start:
                await conn.execute(b"COMMIT")
                self._known.update(positions)
                return False
            # A small batch's writes in pipeline mode (a large one writes by COPY).
            if len(batch.events) <= SMALL_BATCH:
                async with pipelined(conn, commit=True):
                    applied = await self._apply(conn, steps, positions, batch)
            else:
                applied = await self._apply(conn, steps, positions, batch)
                await conn.execute(b"COMMIT")
        except BaseException:
            self._known.clear()  # a batch that failed may or may not have committed
            await _end_failed(conn)
            raise
        self._known.update(applied.positions)
        self._committed(applied, time.perf_counter() - started)
        full = len(batch.events) >= limit
        self._following = not full
        return full

    def _ahead(self, names: list[str]) -> int | None:
        """Where the next batch starts if the tracking rows hold what this runner committed."""
        if any(name not in self._known for name in names):
            return None
        return min(self._known[name] for name in names)

    @staticmethod
    async def _apply(
        conn: AsyncConnection[Any], steps: list[Step], positions: dict[str, int], batch: Batch
    ) -> Planned:
        applied = await apply_batch(conn, steps, positions, batch)
        notice = (PROJECTIONS_CHANNEL, json.dumps(applied.positions))
        await tracking.advance(conn, applied.positions, notify=notice)
        return applied

    def _committed(self, applied: Planned, seconds: float) -> None:
        metrics.BATCH_SECONDS.observe(seconds)
        for name, count in applied.consumed.items():
            if count:
                metrics.EVENTS.labels(name).inc(count)
            metrics.POSITION.labels(name).set(applied.positions[name])
            self._failing.pop(name, None)
        BUS.publish(applied.positions)

    def _failed(self, name: str) -> None:
        _, failures = self._failing.get(name, (0.0, 0))
        delay = min(2.0**failures, MAX_BACKOFF)
        self._failing[name] = (time.monotonic() + delay, failures + 1)
        metrics.FAILURES.labels(name).inc()
        log.exception(
            "projection batch failed; retrying later",
            extra={"projection": name, "retryInSeconds": delay, "failures": failures + 1},
        )


async def _end_failed(conn: AsyncConnection[Any]) -> None:
    """Roll a failed batch back; a connection that cannot be (broken, or cancelled mid-statement)
    is closed, so that no later batch ever commits in what is left of this transaction."""
    idle = psycopg.pq.TransactionStatus.IDLE
    if not conn.closed and not conn.broken:
        with contextlib.suppress(Exception):
            if conn.info.transaction_status != idle:
                await conn.execute(b"ROLLBACK")
            if conn.info.transaction_status == idle:
                return
    await close_quietly(conn)
