"""The composition root: builds, starts and stops the pool, the event log, the command handlers
and the followers. The API, the CLI, the benchmarks and the test support all get them here."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Protocol

from psycopg_pool import AsyncConnectionPool

from escrowgrid.application.ledger import Ledger
from escrowgrid.application.postgres_store import PostgresEventStore
from escrowgrid.config import OnchainSettings, ReplicaSettings
from escrowgrid.database import open_pool
from escrowgrid.eventlog.appender import Appender
from escrowgrid.eventlog.loader import StreamLoader
from escrowgrid.eventlog.retention import IdempotencyRetention
from escrowgrid.replica.monitor import ReplicaMonitor
from escrowgrid.replica.reads import ReplicaReads
from projections.registry import INLINE, UnknownProjection, select
from projections.runner.inline import InlineProjection
from projections.runner.runner import ProjectionRunner
from projections.runner.waiting import ProjectionWaiter


class Follower(Protocol):
    """A background worker started after the event log and stopped before it."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@dataclass(frozen=True, slots=True)
class PoolSize:
    min_size: int = 1
    max_size: int = 10


@dataclass
class Running:
    """What `build` wires: started by `start`, stopped (in reverse) by `stop`."""

    pool: AsyncConnectionPool
    appender: Appender
    loader: StreamLoader
    store: PostgresEventStore
    ledger: Ledger
    followers: list[Follower] = field(default_factory=list)
    # Read-your-writes: started last, on the pool, once the followers run.
    waiter: ProjectionWaiter | None = None
    # Queries on a streaming replica (DATABASE_REPLICA_URL); None: everything on `pool`.
    replica: ReplicaReads | None = None

    def read_pool(self) -> AsyncConnectionPool:
        """The pool for one query: the replica's when it may serve it, else the primary's."""
        return self.pool if self.replica is None else self.replica.pool()

    def follow(self, *followers: Follower) -> None:
        """More followers, started and stopped with the rest (the API's audit logs)."""
        self.followers.extend(followers)

    async def start(self, *, wait_for_pool: bool = True) -> None:
        """Without `wait_for_pool` the service starts while the database is still down."""
        await self.pool.open(wait=wait_for_pool)
        await self.appender.start()
        await self.loader.start()
        for follower in self.followers:
            await follower.start()
        if self.waiter is not None:
            await self.waiter.start(self.pool)
        if self.replica is not None:
            await self.replica.start()

    async def stop(self) -> None:
        if self.replica is not None:
            await self.replica.stop()
        if self.waiter is not None:
            await self.waiter.stop()
        for follower in reversed(self.followers):
            await follower.stop()
        await self.loader.stop()
        await self.appender.stop()
        await self.pool.close()


def build(
    dsn: str,
    *,
    pool_size: PoolSize = PoolSize(),
    projections_inline: bool = False,
    read_your_writes: bool = False,
    idempotency_retention: bool = False,
    onchain: OnchainSettings | None = None,
    replica: ReplicaSettings | None = None,
    replica_pool_size: PoolSize = PoolSize(),
    inline: bool = True,
) -> Running:
    """Wire everything for `dsn` without I/O; `start` opens and starts it.

    With `replica.url`, queries may go to that streaming replica; commands, authentication and
    every follower stay on `dsn`, the primary. Without `inline`, appends leave every read model
    to a runner, as versions before 0070 did.
    """
    pool = open_pool(dsn, min_size=pool_size.min_size, max_size=pool_size.max_size)
    # Positions and the ledger feed are written in the append transaction: a command's answer
    # never waits for the runner, which follows the log for the other read models.
    appender = Appender(pool, inline=InlineProjection() if inline else None)
    loader = StreamLoader(pool)
    store = PostgresEventStore(pool, appender, loader)
    running = Running(pool, appender, loader, store, Ledger(store))
    if projections_inline:
        running.follow(ProjectionRunner(dsn))
    if idempotency_retention:
        running.follow(IdempotencyRetention(pool))
    if onchain is not None and onchain.enabled:
        from escrowgrid.onchain.publisher import Publisher  # web3 is an extra: only when enabled

        running.follow(Publisher(dsn, onchain))
    if read_your_writes:
        running.waiter = ProjectionWaiter()
    if replica is not None and replica.url is not None:
        monitor = ReplicaMonitor(
            replica.url,
            pool,
            replica.max_lag,
            pool_min=replica_pool_size.min_size,
            pool_max=replica_pool_size.max_size,
        )
        running.replica = ReplicaReads(pool, monitor)
    return running


def projection_runner(
    dsn: str, names: Sequence[str] = (), *, batch_size: int = 5000
) -> ProjectionRunner:
    """The runner as its own process (`escrowgrid projections run`): named read models, or all
    but the inline ones (the appends write those)."""
    followed = tuple(p for p in select(names) if p not in INLINE)
    if not followed:
        raise UnknownProjection(f"{', '.join(names)}: projected inline by the appends, not run")
    return ProjectionRunner(dsn, followed, batch_size=batch_size)


@asynccontextmanager
async def running(
    dsn: str,
    *,
    pool_size: PoolSize = PoolSize(),
    inline: bool = True,
) -> AsyncIterator[Running]:
    """The command side for a benchmark or a test: started on entry, stopped on the way out."""
    wired = build(dsn, pool_size=pool_size, inline=inline)
    await wired.start()
    try:
        yield wired
    finally:
        await wired.stop()
