"""An in-memory EventStore for unit-testing the command handlers without PostgreSQL.

Honest to `append_batch` (db/migrations/0001): a used idempotency key answers first (its
earlier answer, or IdempotencyMismatch), then read versions and stream heads are checked
(ConcurrencyConflict), then the events and the key land together or not at all. Each call
yields to the event loop once, as a round trip would, so concurrent commands interleave.
tests/integration/test_command_handlers.py runs the same test bodies on both stores.
"""

from __future__ import annotations

import asyncio
from uuid import UUID

from escrowgrid.eventlog.errors import ConcurrencyConflict, IdempotencyMismatch
from escrowgrid.eventlog.records import (
    AppendRequest,
    AppendResult,
    IdempotencyRecord,
    PendingEvent,
)


class MemoryEventStore:
    def __init__(self) -> None:
        self.streams: dict[UUID, list[PendingEvent]] = {}
        self.keys: dict[tuple[str, str], IdempotencyRecord] = {}
        self.requests: list[AppendRequest] = []  # what was appended, in order
        self.head = 0  # the last log position given out

    async def load(self, *stream_ids: UUID) -> dict[UUID, list[PendingEvent]]:
        await asyncio.sleep(0)
        return {sid: list(self.streams.get(sid, ())) for sid in stream_ids}

    async def idempotency_record(self, scope: str, key: str) -> IdempotencyRecord | None:
        await asyncio.sleep(0)
        return self.keys.get((scope, key))

    async def append(self, request: AppendRequest) -> AppendResult:
        await asyncio.sleep(0)
        key = request.idempotency
        if key is not None:
            found = self.keys.get((key.scope, key.key))
            if found is not None:
                if found.request_hash != key.request_hash:
                    raise IdempotencyMismatch(key.key)
                return AppendResult((), replayed=found.response)
        for sid, seen in request.read_versions.items():
            if self._version(sid) != seen:
                raise ConcurrencyConflict(sid, seen, self._version(sid))
        heads: dict[UUID, int] = {}
        for event in request.events:
            head = heads.get(event.stream_id, self._version(event.stream_id))
            if event.version != head + 1:
                raise ConcurrencyConflict(event.stream_id, event.version - 1, head)
            heads[event.stream_id] = event.version
        positions = []
        for event in request.events:
            self.streams.setdefault(event.stream_id, []).append(event)
            self.head += 1
            positions.append(self.head)
        if key is not None:
            self.keys[(key.scope, key.key)] = key
        self.requests.append(request)
        return AppendResult(tuple(positions))

    def _version(self, stream_id: UUID) -> int:
        events = self.streams.get(stream_id)
        return events[-1].version if events else 0
