"""Failed authentications written to `auth_failures` in batches, off the request path."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from psycopg_pool import AsyncConnectionPool

from escrowgrid.background import cancel_and_wait

log = logging.getLogger("escrowgrid.auth")

_INSERT = """
INSERT INTO auth_failures (reason, method, path, client_addr, request_id)
SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[])
"""
MAX_PENDING = 10_000  # a flood of bad keys must not grow memory without bound


class AuthFailureLog:
    """Queues failures and writes them every `interval` seconds."""

    def __init__(self, pool: AsyncConnectionPool, interval: float = 0.5) -> None:
        self._pool = pool
        self._interval = interval
        self._pending: list[dict[str, Any]] = []
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0

    def record(self, failure: dict[str, Any]) -> None:
        log.warning("authentication failed", extra={"type": "auth_failure", **failure})
        if len(self._pending) >= MAX_PENDING:
            self.dropped += 1
            return
        self._pending.append(failure)

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="escrowgrid-auth-audit")

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
        columns = [[f.get(k) for f in batch] for k in ("reason", "method", "path", "clientAddr")]
        columns.append([f.get("requestId") for f in batch])
        async with self._pool.connection() as conn:
            await conn.execute(_INSERT, columns)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.flush()
            except Exception as exc:  # the database may be down; the log line was written
                log.warning("could not record authentication failures", extra={"error": str(exc)})
