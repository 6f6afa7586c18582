"""Batched stream loads: concurrent commands that need aggregates share one query."""

from __future__ import annotations

from collections.abc import Mapping
from uuid import UUID

from psycopg_pool import AsyncConnectionPool

from escrowgrid.batched_lookup import BatchedLookup
from escrowgrid.eventlog.reader import load_streams
from escrowgrid.eventlog.records import PendingEvent

Streams = dict[UUID, list[PendingEvent]]


class StreamLoader:
    """Collects load requests while a query is in flight and serves them with the next one."""

    def __init__(
        self, pool: AsyncConnectionPool, *, max_streams: int = 1000, in_flight: int = 4
    ) -> None:
        self._pool = pool
        self._lookup: BatchedLookup[UUID, list[PendingEvent]] = BatchedLookup(
            self._fetch, "escrowgrid-loader", max_keys=max_streams, in_flight=in_flight
        )

    async def start(self) -> None:
        await self._lookup.start()

    async def stop(self) -> None:
        await self._lookup.stop()

    async def load(self, *stream_ids: UUID) -> Streams:
        """The events of each stream (an empty list for a stream that does not exist)."""
        return await self._lookup.get(stream_ids)

    async def _fetch(self, stream_ids: list[UUID]) -> Mapping[UUID, list[PendingEvent]]:
        async with self._pool.connection() as conn:
            return await load_streams(conn, stream_ids)
