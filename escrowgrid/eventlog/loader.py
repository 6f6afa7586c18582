"""Batched stream loads: concurrent commands that need aggregates share one query."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from uuid import UUID

from psycopg_pool import AsyncConnectionPool

from escrowgrid.background import cancel_and_wait
from escrowgrid.eventlog.reader import load_streams
from escrowgrid.eventlog.records import PendingEvent

Streams = dict[UUID, list[PendingEvent]]


@dataclass(slots=True)
class _Want:
    stream_ids: list[UUID]
    future: asyncio.Future[Streams]


class StreamLoader:
    """Collects load requests while a query is in flight and serves them with the next one."""

    def __init__(
        self, pool: AsyncConnectionPool, *, max_streams: int = 1000, in_flight: int = 4
    ) -> None:
        self._pool = pool
        self._max_streams = max_streams
        self._in_flight = in_flight  # queries running at once
        self._queue: asyncio.Queue[_Want] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        if not self._tasks:
            self._tasks = [
                asyncio.create_task(self._run(), name=f"escrowgrid-loader-{i}")
                for i in range(self._in_flight)
            ]

    async def stop(self) -> None:
        await cancel_and_wait(self._tasks)
        self._tasks = []

    async def load(self, *stream_ids: UUID) -> Streams:
        """The events of each stream (an empty list for a stream that does not exist)."""
        if not self._tasks:
            async with self._pool.connection() as conn:
                return await load_streams(conn, list(stream_ids))
        future: asyncio.Future[Streams] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Want(list(stream_ids), future))
        return await future

    async def _run(self) -> None:
        while True:
            wants = [await self._queue.get()]
            count = len(wants[0].stream_ids)
            while count < self._max_streams and not self._queue.empty():
                wants.append(self._queue.get_nowait())
                count += len(wants[-1].stream_ids)
            wanted = list({sid for want in wants for sid in want.stream_ids})
            try:
                async with self._pool.connection() as conn:
                    found = await load_streams(conn, wanted)
            except Exception as exc:  # each waiter gets the failure; the loader carries on
                for want in wants:
                    if not want.future.done():
                        want.future.set_exception(exc)
                continue
            for want in wants:
                if not want.future.done():
                    want.future.set_result({sid: found[sid] for sid in want.stream_ids})
