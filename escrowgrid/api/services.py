"""What one API process runs beside HTTP: pool, appender, loader, projections and waiters."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from psycopg_pool import AsyncConnectionPool

from escrowgrid.api.auth_audit import AuthFailureLog
from escrowgrid.api.refusal_audit import RefusalLog
from escrowgrid.background import cancel_and_wait
from escrowgrid.commands import Ledger
from escrowgrid.config import Settings
from escrowgrid.database import open_pool
from escrowgrid.eventlog.appender import Appender
from escrowgrid.eventlog.loader import StreamLoader
from escrowgrid.eventlog.retention import purge_idempotency_keys
from projections.api_keys.queries import find_api_key_by_hash
from projections.runner.runner import ProjectionRunner
from projections.runner.waiting import ProjectionWaiter

log = logging.getLogger("escrowgrid.services")

READ_YOUR_WRITES_TIMEOUT = 5.0
RETENTION_EVERY_S = 3600.0


@dataclass
class Services:
    """Built at start-up from the settings; started and stopped by the app's lifespan."""

    settings: Settings
    pool: AsyncConnectionPool
    appender: Appender
    loader: StreamLoader
    ledger: Ledger
    waiter: ProjectionWaiter
    auth_failures: AuthFailureLog
    refusals: RefusalLog
    runner: ProjectionRunner | None = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    def build(cls, settings: Settings) -> Services:
        assert settings.database_url is not None
        pool = open_pool(settings.database_url, min_size=4, max_size=32)
        appender = Appender(pool)
        loader = StreamLoader(pool)
        runner = ProjectionRunner(settings.database_url) if settings.projections_inline else None
        return cls(
            settings=settings,
            pool=pool,
            appender=appender,
            loader=loader,
            ledger=Ledger(pool, appender, loader),
            waiter=ProjectionWaiter(),
            auth_failures=AuthFailureLog(pool),
            refusals=RefusalLog(pool),
            runner=runner,
        )

    async def start(self) -> None:
        await self.pool.open(wait=False)
        await self.appender.start()
        await self.loader.start()
        await self.auth_failures.start()
        await self.refusals.start()
        if self.runner is not None:
            await self.runner.start()
        await self.waiter.start(self.pool)
        self._tasks.append(asyncio.create_task(self._retention(), name="idempotency-retention"))

    async def stop(self) -> None:
        await cancel_and_wait(self._tasks)
        await self.waiter.stop()
        if self.runner is not None:
            await self.runner.stop()
        await self.refusals.stop()
        await self.auth_failures.stop()
        await self.loader.stop()
        await self.appender.stop()
        await self.pool.close()

    async def wait_visible(self, position: int | None) -> None:
        """Read-your-writes: return once the read models show the command at `position`."""
        if position is None:
            return
        if not await self.waiter.wait_for(position, READ_YOUR_WRITES_TIMEOUT):
            log.warning("read models lag behind a command", extra={"position": position})

    async def find_key(self, key_hash: str) -> tuple[str, UUID, str] | None:
        """Authentication's lookup: an active institution key by the hash of its token."""
        async with self.pool.connection() as conn:
            found = await find_api_key_by_hash(conn, key_hash)
        if found is None or found.revoked_at is not None:
            return None
        return found.id, found.institution_id, found.role

    async def _retention(self) -> None:
        while True:
            await asyncio.sleep(RETENTION_EVERY_S)
            try:
                async with self.pool.connection() as conn:
                    removed = await purge_idempotency_keys(conn)
                log.info("idempotency keys purged", extra={"removed": removed})
            except Exception as exc:
                log.warning("idempotency purge failed", extra={"error": str(exc)})


def provide(services: Services) -> dict[str, Any]:
    """Names the route handlers can ask for."""
    return {"services": services}
