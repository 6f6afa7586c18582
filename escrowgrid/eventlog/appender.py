"""Group commit: concurrent commands share one transaction, serialised by a table lock.

Why: followers must never skip an event. A writer that commits a lower position after another
writer's higher one would let a follower pass the lower one by. Taking `LOCK TABLE events IN
EXCLUSIVE MODE` before inserting makes positions commit in order (readers are not blocked), and
batching every command that arrives while the previous batch commits pays for that lock and for
the commit's fsync once per batch instead of once per command. See docs/architecture.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from uuid import UUID

import psycopg
from psycopg_pool import AsyncConnectionPool

from escrowgrid.eventlog.errors import (
    ConcurrencyConflict,
    EventLogError,
    IdempotencyMismatch,
    StoreUnavailable,
)
from escrowgrid.eventlog.hashing import canonical_meta, event_hash
from escrowgrid.eventlog.records import (
    AppendRequest,
    AppendResult,
    IdempotencyRecord,
    PendingEvent,
    StoredResponse,
)

log = logging.getLogger("escrowgrid.appender")

NOTIFY_CHANNEL = "escrowgrid_events"

_HEADS = """
SELECT s.id, e.version, e.hash
FROM unnest(%s::uuid[]) AS s(id)
CROSS JOIN LATERAL (
    SELECT version, hash FROM events WHERE stream_id = s.id ORDER BY version DESC LIMIT 1
) AS e
"""

_IDEMPOTENCY = """
SELECT i.scope, i.key, i.request_hash, i.status, i.response
FROM unnest(%s::text[], %s::text[]) AS k(scope, key)
JOIN idempotency_keys AS i ON i.scope = k.scope AND i.key = k.key
"""

_INSERT_EVENTS = """
INSERT INTO events (stream_id, version, topic, state, tenant_id, meta, prev_hash, hash)
SELECT stream_id, version, topic, state, tenant_id::uuid, meta::jsonb, prev_hash, hash
FROM unnest(%s::uuid[], %s::int[], %s::text[], %s::bytea[], %s::text[], %s::text[],
            %s::bytea[], %s::bytea[])
     WITH ORDINALITY AS u(stream_id, version, topic, state, tenant_id, meta, prev_hash, hash, n)
ORDER BY n
RETURNING position, stream_id, version
"""

_INSERT_IDEMPOTENCY = """
INSERT INTO idempotency_keys (scope, key, request_hash, status, response)
SELECT * FROM unnest(%s::text[], %s::text[], %s::bytea[], %s::smallint[], %s::bytea[])
"""


@dataclass(slots=True)
class _Pending:
    request: AppendRequest
    future: asyncio.Future[AppendResult]


@dataclass(frozen=True, slots=True)
class _Chained:
    event: PendingEvent
    prev_hash: bytes | None
    hash: bytes


@dataclass(slots=True)
class _Batch:
    """What one transaction writes: event rows and idempotency rows, as column arrays."""

    events: list[tuple[_Chained, str | None, str]] = field(default_factory=list)
    keys: list[IdempotencyRecord] = field(default_factory=list)

    def event_params(self) -> tuple[list[object], ...]:
        return (
            [c.event.stream_id for c, _, _ in self.events],
            [c.event.version for c, _, _ in self.events],
            [c.event.topic for c, _, _ in self.events],
            [c.event.state for c, _, _ in self.events],
            [tenant for _, tenant, _ in self.events],
            [meta for _, _, meta in self.events],
            [c.prev_hash for c, _, _ in self.events],
            [c.hash for c, _, _ in self.events],
        )

    def key_params(self) -> tuple[list[object], ...]:
        return (
            [k.scope for k in self.keys],
            [k.key for k in self.keys],
            [k.request_hash for k in self.keys],
            [k.response.status for k in self.keys],
            [k.response.body for k in self.keys],
        )


Outcome = AppendResult | EventLogError
Heads = dict[UUID, tuple[int, bytes | None]]


class Appender:
    """Appends commands' events in batches, one batch (one transaction) at a time."""

    def __init__(
        self, pool: AsyncConnectionPool, *, max_batch: int = 500, lock_table: bool = True
    ) -> None:
        self._pool = pool
        self._max_batch = max_batch
        self._lock_table = lock_table  # False only to show, in a test, what the lock prevents
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.batches = 0
        self.appended = 0

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="escrowgrid-appender")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        while not self._queue.empty():
            pending = self._queue.get_nowait()
            if not pending.future.done():
                pending.future.set_exception(StoreUnavailable("the appender stopped"))

    async def append(self, request: AppendRequest) -> AppendResult:
        """Append one command's events (and idempotency record) atomically; wait for the commit."""
        if self._task is None:
            raise StoreUnavailable("the appender is not running")
        future: asyncio.Future[AppendResult] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(request, future))
        # Shielded: a caller that goes away must not cancel a commit shared with others.
        return await asyncio.shield(future)

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            outcomes: list[Outcome]
            try:
                outcomes = await self._commit([p.request for p in batch])
            except (psycopg.Error, OSError) as exc:
                log.warning("append batch failed", extra={"error": str(exc), "size": len(batch)})
                outcomes = [StoreUnavailable("event store unavailable")] * len(batch)
            except Exception:  # one bad batch must not stop the appender
                log.exception("append batch crashed", extra={"size": len(batch)})
                outcomes = [StoreUnavailable("append failed")] * len(batch)
            for pending, outcome in zip(batch, outcomes, strict=True):
                if pending.future.done():
                    continue
                if isinstance(outcome, BaseException):
                    pending.future.set_exception(outcome)
                else:
                    pending.future.set_result(outcome)

    async def _commit(self, requests: list[AppendRequest]) -> list[Outcome]:
        """One transaction for the whole batch; each request is accepted or refused alone."""
        streams = list({e.stream_id for r in requests for e in r.events})
        keyed = [r.idempotency for r in requests if r.idempotency is not None]
        async with self._pool.connection() as conn, conn.transaction():
            if self._lock_table:
                await conn.execute("LOCK TABLE events IN EXCLUSIVE MODE")
            heads: Heads = {}
            if streams:
                cur = await conn.execute(_HEADS, (streams,))
                heads = {sid: (ver, bytes(h)) for sid, ver, h in await cur.fetchall()}
            known: dict[tuple[str, str], tuple[bytes, StoredResponse]] = {}
            if keyed:
                cur = await conn.execute(
                    _IDEMPOTENCY, ([k.scope for k in keyed], [k.key for k in keyed])
                )
                for scope, key, request_hash, status, body in await cur.fetchall():
                    known[(scope, key)] = (bytes(request_hash), StoredResponse(status, bytes(body)))
            batch = _Batch()
            outcomes = [_plan(r, heads, known, batch) for r in requests]
            positions: dict[tuple[UUID, int], int] = {}
            if batch.events:
                cur = await conn.execute(_INSERT_EVENTS, batch.event_params())
                positions = {(sid, ver): pos for pos, sid, ver in await cur.fetchall()}
                last = str(max(positions.values()))
                await conn.execute("SELECT pg_notify(%s, %s)", (NOTIFY_CHANNEL, last))
            if batch.keys:
                await conn.execute(_INSERT_IDEMPOTENCY, batch.key_params())
        self.batches += 1
        self.appended += len(batch.events)
        return [
            AppendResult(tuple(positions[(e.stream_id, e.version)] for e in r.events))
            if outcome is None
            else outcome
            for r, outcome in zip(requests, outcomes, strict=True)
        ]


def _plan(
    request: AppendRequest,
    heads: Heads,
    known: dict[tuple[str, str], tuple[bytes, StoredResponse]],
    batch: _Batch,
) -> Outcome | None:
    """Accept a request into the batch (None) or say why not; advances heads as it goes."""
    record = request.idempotency
    if record is not None and (record.scope, record.key) in known:
        first_hash, response = known[(record.scope, record.key)]
        if first_hash == record.request_hash:
            return AppendResult((), replayed=response)
        return IdempotencyMismatch(record.key)
    meta = canonical_meta(request.meta)
    local: Heads = {}
    chained: list[_Chained] = []
    for event in request.events:
        version, prev = local.get(event.stream_id) or heads.get(event.stream_id, (0, None))
        if event.version != version + 1:
            return ConcurrencyConflict(event.stream_id, event.version - 1, version)
        digest = event_hash(prev, event.stream_id, event.version, event.topic, event.state, meta)
        local[event.stream_id] = (event.version, digest)
        chained.append(_Chained(event, prev, digest))
    heads.update(local)
    tenant = None if request.tenant_id is None else str(request.tenant_id)
    batch.events.extend((c, tenant, meta.decode()) for c in chained)
    if record is not None:
        known[(record.scope, record.key)] = (record.request_hash, record.response)
        batch.keys.append(record)
    return None
