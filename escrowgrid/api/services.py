"""What one API process runs beside HTTP (wired by escrowgrid.bootstrap), as handlers see it."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from escrowgrid import bootstrap
from escrowgrid.api.auth_audit import AuthFailureLog
from escrowgrid.api.refusal_audit import RefusalLog
from escrowgrid.application.ledger import Ledger
from escrowgrid.batched_lookup import BatchedLookup
from escrowgrid.config import Settings
from escrowgrid.eventlog.appender import Appender
from escrowgrid.eventlog.loader import StreamLoader
from projections.api_keys.queries import find_api_keys_by_hash
from projections.api_keys.views import ApiKeyAuth
from projections.registry import awaited_for
from projections.runner.batches import head_position

log = logging.getLogger("escrowgrid.services")

READ_YOUR_WRITES_TIMEOUT = 5.0
POOL_SIZE = bootstrap.PoolSize(min_size=4, max_size=32)
# With a replica, queries go there: as many connections as the primary's pool at most, since
# all of a worker's queries may land on it. The primary's pool keeps its size: it serves every
# query while the replica is down or behind.
REPLICA_POOL_SIZE = bootstrap.PoolSize(min_size=2, max_size=32)
# Key lookup statements at once per worker; lookups asked for meanwhile wait for a free one and
# go in it together (never answered by one that started before they were asked for).
KEY_LOOKUPS_IN_FLIGHT = 2


@dataclass
class Services:
    """Built at start-up from the settings; started and stopped by the app's lifespan."""

    settings: Settings
    running: bootstrap.Running
    auth_failures: AuthFailureLog
    refusals: RefusalLog
    # Authentication's key lookups: those of concurrent requests share one statement.
    keys: BatchedLookup[str, ApiKeyAuth]

    @classmethod
    def build(cls, settings: Settings) -> Services:
        assert settings.database_url is not None
        running = bootstrap.build(
            settings.database_url,
            pool_size=POOL_SIZE,
            projections_inline=settings.projections_inline,
            read_your_writes=True,
            idempotency_retention=True,
            onchain=settings.onchain,
            replica=settings.replica,
            replica_pool_size=REPLICA_POOL_SIZE,
        )
        auth_failures = AuthFailureLog(running.pool)
        refusals = RefusalLog(running.pool)
        pool = running.pool

        async def fetch_keys(key_hashes: list[str]) -> dict[str, ApiKeyAuth]:
            async with pool.connection() as conn:
                return await find_api_keys_by_hash(conn, key_hashes)

        keys = BatchedLookup(fetch_keys, "escrowgrid-key-lookup", in_flight=KEY_LOOKUPS_IN_FLIGHT)
        running.follow(auth_failures, refusals, keys)
        return cls(settings, running, auth_failures, refusals, keys)

    @property
    def pool(self) -> AsyncConnectionPool:
        return self.running.pool

    def read_pool(self) -> AsyncConnectionPool:
        """The pool for a query: the replica's when it may serve it (read-your-writes kept)."""
        return self.running.read_pool()

    @property
    def appender(self) -> Appender:
        return self.running.appender

    @property
    def loader(self) -> StreamLoader:
        return self.running.loader

    @property
    def ledger(self) -> Ledger:
        return self.running.ledger

    async def start(self) -> None:
        # The service starts while the database is down; requests answer 503 until it is up.
        await self.running.start(wait_for_pool=False)

    async def stop(self) -> None:
        await self.running.stop()

    async def wait_visible(self, position: int | None, topics: Iterable[str] = ()) -> None:
        """Read-your-writes: return once the read models that events of these topics change
        show the command at `position` (the inline ones did in its transaction)."""
        if position is None or self.running.waiter is None:
            return
        names = awaited_for(topics)
        if names and not await self.running.waiter.wait_for(
            position, READ_YOUR_WRITES_TIMEOUT, names
        ):
            log.warning("read models lag behind a command", extra={"position": position})
        if self.running.replica is not None:
            await self.running.replica.confirm()

    def replica_failed(self) -> AsyncConnectionPool:
        """A query failed on a replica connection: the monitor looks at the replica now, and
        the pool for the request's second run is the primary's."""
        replica = self.running.replica
        if replica is None:
            return self.pool
        replica.monitor.poke()
        return replica.retry_pool()

    def replica_status(self) -> dict[str, Any] | None:
        """The replica's state for /ready; None without DATABASE_REPLICA_URL."""
        replica = self.running.replica
        return None if replica is None else replica.status()

    async def wait_caught_up(self, conn: AsyncConnection[Any], *names: str) -> None:
        """Before reading a model of every event (audit, digest): wait until it has passed the
        head of the log, which holds every command already answered (read-your-writes)."""
        if self.running.waiter is None:
            return
        position = await head_position(conn)
        if not await self.running.waiter.wait_for(position, READ_YOUR_WRITES_TIMEOUT, names):
            log.warning("read models lag behind the log", extra={"position": position})

    async def find_key(self, key_hash: str) -> tuple[str, UUID, str] | None:
        """Authentication's lookup: an active institution key by the hash of its token.

        Always on the primary, never the replica: a revoked key must fail on the very next
        request, whichever process or client sends it.
        """
        found = (await self.keys.get([key_hash])).get(key_hash)
        if found is None or found.revoked_at is not None:
            return None
        return found.id, found.institution_id, found.role


def provide(services: Services) -> dict[str, Any]:
    """Names the route handlers can ask for."""
    return {"services": services}
