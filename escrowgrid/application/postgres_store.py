"""The event store on PostgreSQL: the batching appender and loader, and the idempotency table."""

from __future__ import annotations

from uuid import UUID

from psycopg_pool import AsyncConnectionPool

from escrowgrid.application.event_store import Streams
from escrowgrid.application.idempotency import find_record
from escrowgrid.eventlog.appender import Appender
from escrowgrid.eventlog.loader import StreamLoader
from escrowgrid.eventlog.records import AppendRequest, AppendResult, IdempotencyRecord


class PostgresEventStore:
    """The EventStore the handlers use in the service (started and stopped by bootstrap)."""

    def __init__(self, pool: AsyncConnectionPool, appender: Appender, loader: StreamLoader) -> None:
        self._pool = pool
        self._appender = appender
        self._loader = loader

    async def load(self, *stream_ids: UUID) -> Streams:
        return await self._loader.load(*stream_ids)

    async def append(self, request: AppendRequest) -> AppendResult:
        return await self._appender.append(request)

    async def idempotency_record(self, scope: str, key: str) -> IdempotencyRecord | None:
        return await find_record(self._pool, scope, key)
