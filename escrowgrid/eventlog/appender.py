"""Group commit: concurrent commands share one transaction, serialised by a table lock.

Why: followers must never skip an event. A writer that commits a lower position after another
writer's higher one would let a follower pass the lower one by. Taking `LOCK TABLE events IN
EXCLUSIVE MODE` before inserting makes positions commit in order (readers are not blocked), and
batching every command that arrives meanwhile pays for the lock once per batch.

The lock is held only until the commit record is written, not until it is on disk: the batch
commits with synchronous_commit off, then a second, synchronous transaction on the same
connection waits for the WAL flush that makes it durable (outside the lock, so the flushes of
several batches overlap). No command is answered before its events are durable.
See docs/architecture.md.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from escrowgrid.background import cancel_and_wait
from escrowgrid.eventlog.errors import (
    ConcurrencyConflict,
    EventLogError,
    IdempotencyMismatch,
    StoreUnavailable,
)
from escrowgrid.eventlog.hashing import canonical_meta
from escrowgrid.eventlog.inline import InlineProjector
from escrowgrid.eventlog.records import (
    AppendRequest,
    AppendResult,
    StoredResponse,
)

log = logging.getLogger("escrowgrid.appender")

NOTIFY_CHANNEL = "escrowgrid_events"

_APPEND_BATCH = """
SELECT request, outcome, pos, detail, status, body
FROM append_batch(%s, %s::int[], %s::uuid[], %s::int[], %s::text[], %s::bytea[], %s::uuid[],
                  %s::bytea[], %s::int[], %s::uuid[], %s::int[], %s::int[], %s::text[],
                  %s::text[], %s::bytea[], %s::int[], %s::bytea[])
"""
# The same, then the inline read models projected by the database (db/migrations/0080).
_APPEND_BATCH_PROJECTED = """
SELECT request, outcome, pos, detail, status, body
FROM append_batch_projected(%s::text, %s::text, %s::text, %s::text, %s::int, %s::int,
                  %s::int[], %s::uuid[], %s::int[], %s::text[],
                  %s::bytea[], %s::uuid[], %s::bytea[], %s::int[], %s::uuid[], %s::int[],
                  %s::int[], %s::text[], %s::text[], %s::bytea[], %s::int[], %s::bytea[])
"""


@dataclass(slots=True)
class _Pending:
    request: AppendRequest
    future: asyncio.Future[AppendResult]


Outcome = AppendResult | EventLogError


class Appender:
    """Appends commands' events in batches: one locked batch at a time, flushes in parallel."""

    def __init__(
        self,
        pool: AsyncConnectionPool,
        *,
        max_batch: int = 1000,
        flushes: int = 8,
        inline: InlineProjector | None = None,
    ) -> None:
        self._pool = pool
        self._inline = inline
        self._max_batch = max_batch
        self._flush_slots = asyncio.Semaphore(flushes)  # batches committed, waiting for disk
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._catch_up: asyncio.Task[None] | None = None
        self._flushing: set[asyncio.Task[None]] = set()
        self.batches = 0
        self.appended = 0

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="escrowgrid-appender")
            if self._inline is not None:
                # Inline models left behind (a log an earlier version wrote) catch up now, not
                # only with the next command.
                self._catch_up = asyncio.create_task(self._catch_up_inline())

    async def _catch_up_inline(self) -> None:
        try:
            async with self._pool.connection() as conn:
                await self._commit(conn, [])
        except Exception as exc:  # the next batch catches up instead
            log.warning("inline read models did not catch up", extra={"error": str(exc)})

    async def stop(self) -> None:
        if self._catch_up is not None:
            await cancel_and_wait([self._catch_up])
            self._catch_up = None
        if self._task is not None:
            await cancel_and_wait([self._task])
            self._task = None
        if self._flushing:
            await asyncio.gather(*self._flushing, return_exceptions=True)
        while not self._queue.empty():
            pending = self._queue.get_nowait()
            if not pending.future.done():
                pending.future.set_exception(StoreUnavailable("the appender stopped"))

    async def append(self, request: AppendRequest) -> AppendResult:
        """Append one command's events (and idempotency record) atomically; wait until durable."""
        if self._task is None:
            raise StoreUnavailable("the appender is not running")
        future: asyncio.Future[AppendResult] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(request, future))
        # Shielded: a caller that goes away must not cancel a commit shared with others.
        return await asyncio.shield(future)

    async def _run(self) -> None:
        # The table lock serialises batches anyway: one loop takes all that is queued, commits
        # it, and hands the connection to a flush task while it starts on the next batch.
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            await self._flush_slots.acquire()
            conn = None
            try:
                conn = await self._pool.getconn()
                outcomes = await self._commit(conn, [p.request for p in batch])
            except Exception as exc:
                self._flush_slots.release()
                if conn is not None:
                    await self._pool.putconn(conn)
                _settle(batch, [_failure(exc, len(batch))] * len(batch))
                continue
            task = asyncio.create_task(self._flush(conn, batch, outcomes))
            self._flushing.add(task)
            task.add_done_callback(self._flushing.discard)

    async def _flush(
        self, conn: AsyncConnection[Any], batch: list[_Pending], outcomes: list[Outcome]
    ) -> None:
        try:
            if any(isinstance(o, AppendResult) and o.positions for o in outcomes) or any(
                p.request.idempotency is not None for p in batch
            ):
                await _wait_until_durable(conn)
        except Exception as exc:
            # Committed but not known to be on disk: the caller retries with its idempotency key.
            outcomes = [_failure(exc, len(batch))] * len(batch)
        finally:
            await self._pool.putconn(conn)
            self._flush_slots.release()
        _settle(batch, outcomes)

    async def _commit(
        self, conn: AsyncConnection[Any], requests: list[AppendRequest]
    ) -> list[Outcome]:
        """One round trip: db/migrations/0001 `append_batch` locks, checks, chains, inserts;
        with inline read models, 0080 `append_batch_projected` also writes their rows."""
        params = _batch_params(requests)
        if self._inline is None:
            rows = await conn.execute(_APPEND_BATCH, params, binary=True)
            found = await rows.fetchall()
            await conn.commit()
        else:
            # The pool's connections autocommit: BEGIN and COMMIT go in the same round trip,
            # so the lock is held for the function's own work and no longer.
            async with conn.pipeline():
                await conn.execute(b"BEGIN")
                rows = await conn.execute(
                    _APPEND_BATCH_PROJECTED, (*self._inline.arguments(), *params), binary=True
                )
                await conn.execute(b"COMMIT")
            found = await rows.fetchall()
        positions: dict[int, list[int]] = {}
        outcomes: list[Outcome | None] = [None] * len(requests)
        projected: dict[str, tuple[int, int]] = {}
        failure: str | None = None
        for request, outcome, pos, detail, status, body in found:
            index = request - 1
            if outcome == "appended":
                positions.setdefault(index, []).append(pos)
            elif outcome == "projected":
                projected[detail] = (pos, status)
            elif outcome == "projection_failed":
                failure = detail
            elif outcome == "replay":
                outcomes[index] = AppendResult((), replayed=StoredResponse(status, bytes(body)))
            elif outcome == "mismatch":
                outcomes[index] = IdempotencyMismatch(detail)
            else:
                stream, expected, actual = detail.rsplit(":", 2)
                outcomes[index] = ConcurrencyConflict(UUID(stream), int(expected), int(actual))
        if self._inline is not None:
            self._inline.settle(projected, failure)
        self.batches += 1
        self.appended += sum(len(p) for p in positions.values())
        return [
            o if o is not None else AppendResult(tuple(positions.get(i, ())))
            for i, o in enumerate(outcomes)
        ]


def _batch_params(requests: list[AppendRequest]) -> tuple[object, ...]:
    """The requests as the column arrays `append_batch` takes (requests numbered from 1)."""
    ev: tuple[list[Any], ...] = ([], [], [], [], [], [], [])
    reads: tuple[list[Any], ...] = ([], [], [])
    keys: tuple[list[Any], ...] = ([], [], [], [], [], [])
    for number, request in enumerate(requests, start=1):
        meta = canonical_meta(request.meta)
        for e in request.events:
            row = (number, e.stream_id, e.version, e.topic, e.state, request.tenant_id, meta)
            for column, value in zip(ev, row, strict=True):
                column.append(value)
        for sid, version in request.read_versions.items():
            for column, read in zip(reads, (number, sid, version), strict=True):
                column.append(read)
        k = request.idempotency
        if k is not None:
            values = (number, k.scope, k.key, k.request_hash, k.response.status, k.response.body)
            for column, part in zip(keys, values, strict=True):
                column.append(part)
    return (len(requests), *ev, *reads, *keys)


def _failure(exc: BaseException, size: int) -> EventLogError:
    if isinstance(exc, psycopg.Error | OSError):
        log.warning("append batch failed", extra={"error": str(exc), "size": size})
        return StoreUnavailable("event store unavailable")
    log.error("append batch crashed", exc_info=exc, extra={"size": size})
    return StoreUnavailable("append failed")


def _settle(batch: list[_Pending], outcomes: list[Outcome]) -> None:
    for pending, outcome in zip(batch, outcomes, strict=True):
        if pending.future.done():
            continue
        if isinstance(outcome, BaseException):
            pending.future.set_exception(outcome)
        else:
            pending.future.set_result(outcome)


async def _wait_until_durable(conn: AsyncConnection[Any]) -> None:
    """A synchronous commit that wrote WAL flushes everything before it, our batch included."""
    # One simple-query string: three statements, one round trip.
    await conn.execute(
        b"BEGIN; SELECT pg_logical_emit_message(true, 'escrowgrid', 'flush'); COMMIT"
    )
