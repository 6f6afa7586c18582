"""How long idempotency keys are kept: never less than 24 hours; purged hourly by the service."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from escrowgrid.background import cancel_and_wait

log = logging.getLogger("escrowgrid.services")  # the name its log lines had in api/services.py

MIN_RETENTION = timedelta(hours=24)
DEFAULT_RETENTION = timedelta(hours=48)
RETENTION_EVERY_S = 3600.0


async def purge_idempotency_keys(
    conn: AsyncConnection[Any], keep: timedelta = DEFAULT_RETENTION
) -> int:
    """Delete keys older than `keep` (at least 24 hours); return how many went."""
    if keep < MIN_RETENTION:
        raise ValueError(f"idempotency keys are kept at least {MIN_RETENTION}")
    cur = await conn.execute("DELETE FROM idempotency_keys WHERE created_at < now() - %s", (keep,))
    return cur.rowcount


class IdempotencyRetention:
    """Purges expired idempotency keys every `every_s` seconds while the service runs."""

    def __init__(self, pool: AsyncConnectionPool, every_s: float = RETENTION_EVERY_S) -> None:
        self._pool = pool
        self._every_s = every_s
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        if not self._tasks:
            self._tasks = [asyncio.create_task(self._run(), name="idempotency-retention")]

    async def stop(self) -> None:
        await cancel_and_wait(self._tasks)
        self._tasks = []

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._every_s)
            try:
                async with self._pool.connection() as conn:
                    removed = await purge_idempotency_keys(conn)
                log.info("idempotency keys purged", extra={"removed": removed})
            except Exception as exc:
                log.warning("idempotency purge failed", extra={"error": str(exc)})
