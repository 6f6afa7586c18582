"""What the command handlers need of an event store: load streams, append, find a key's record.

PostgreSQL implements it (postgres_store.py); the tests also run the handlers on an in-memory
one (tests/support/memory_store.py) that must behave the same.
"""

from __future__ import annotations

from typing import Protocol
from uuid import UUID

from escrowgrid.eventlog.records import (
    AppendRequest,
    AppendResult,
    IdempotencyRecord,
    PendingEvent,
)

Streams = dict[UUID, list[PendingEvent]]


class EventStore(Protocol):
    async def load(self, *stream_ids: UUID) -> Streams:
        """The events of each stream, oldest first (an empty list for an unknown stream)."""
        ...

    async def append(self, request: AppendRequest) -> AppendResult:
        """All of the request or nothing; ConcurrencyConflict if a stream moved on meanwhile,
        the earlier answer (or IdempotencyMismatch) if its idempotency key was used before."""
        ...

    async def idempotency_record(self, scope: str, key: str) -> IdempotencyRecord | None:
        """The record kept for an idempotency key, if the key was used."""
        ...
