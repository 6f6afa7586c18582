"""Rows for an audit table, queued by requests and inserted in batches off the request path."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from escrowgrid.background import cancel_and_wait

log = logging.getLogger("escrowgrid.audit")

MAX_PENDING = 10_000  # a flood of refused requests must not grow memory without bound


class BatchedLog:
    """Queues rows (dicts) and writes them to `table` every `interval` seconds.

    `columns` are (column, key of the row, PostgreSQL type); one `unnest` insert per batch.
    """

    def __init__(
        self,
        pool: AsyncConnectionPool,
        table: str,
        columns: Sequence[tuple[str, str, str]],
        interval: float = 0.5,
    ) -> None:
        self._pool = pool
        self._table = table
        self._keys = [key for _, key, _ in columns]
        self._insert = sql.SQL("INSERT INTO {} ({}) SELECT * FROM unnest({})").format(
            sql.Identifier(table),
            sql.SQL(", ").join(sql.Identifier(column) for column, _, _ in columns),
            sql.SQL(", ").join(sql.SQL("%s::{}[]").format(sql.SQL(kind)) for _, _, kind in columns),
        )
        self._interval = interval
        self._pending: list[dict[str, Any]] = []
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0

    def add(self, row: dict[str, Any]) -> None:
        if len(self._pending) >= MAX_PENDING:
            self.dropped += 1
            return
        self._pending.append(row)

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"escrowgrid-{self._table}")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait([self._task])
            self._task = None
        with contextlib.suppress(Exception):
            await self.flush()

    async def flush(self) -> None:
        batch, self._pending = self._pending, []
        if not batch:
            return
        columns = [[row.get(key) for row in batch] for key in self._keys]
        async with self._pool.connection() as conn:
            await conn.execute(self._insert, columns)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.flush()
            except Exception as exc:  # the database may be down; the log line was written
                log.warning(
                    "could not write audit rows", extra={"table": self._table, "error": str(exc)}
                )
