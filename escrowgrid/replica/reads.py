"""Where a query goes (the replica when it may, else the primary) and a command's wait for it."""

from __future__ import annotations

import logging
import time
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from escrowgrid.replica import wal
from escrowgrid.replica.metrics import instruments
from escrowgrid.replica.monitor import Reason, ReplicaMonitor

log = logging.getLogger("escrowgrid.replica")
SUSPEND_WITHOUT_MARK = 1.0  # seconds: > 3 x the default wal_writer_delay (200 ms)


class ReplicaReads:
    """The replica's monitor (and through it the replica's pool) beside the primary's pool."""

    def __init__(self, primary: AsyncConnectionPool, monitor: ReplicaMonitor) -> None:
        self.primary = primary
        self.monitor = monitor

    def pool(self) -> AsyncConnectionPool:
        """The pool for one query: the replica's while it is fresh enough, else the primary's."""
        reason = self.monitor.refusal()
        replica = self.monitor.pool
        if reason is None and replica is not None:
            instruments().reads.labels("replica", "").inc()
            return replica
        instruments().reads.labels("primary", (reason or Reason.DOWN).value).inc()
        return self.primary

    def retry_pool(self) -> AsyncConnectionPool:
        """The primary's pool, for a query that has just failed on a replica connection."""
        instruments().reads.labels("primary", "retry").inc()
        return self.primary

    async def confirm(self) -> None:
        """After a command is visible on the primary: wait (bounded) until the replica has it.

        On a timeout the command still answers; this process's queries use the primary until
        the replica catches up. A replica seen down costs no wait (see monitor.py, WARM_UP).
        """
        if not self.monitor.connected:
            return
        try:
            lsn = await wal.mark(self.primary)
        except (psycopg.Error, OSError, PoolTimeout) as exc:
            # The command is committed: answer it, but trust the replica again only after a
            # probe that starts once the WAL writer has flushed it (3 x wal_writer_delay).
            log.warning("replica wait skipped: no WAL mark", extra={"error": str(exc)})
            self.monitor.suspend(SUSPEND_WITHOUT_MARK)
            return
        metrics = instruments()
        started = time.monotonic()
        replayed = await self.monitor.wait_replayed(lsn, self.monitor.max_lag)
        metrics.wait_seconds.observe(time.monotonic() - started)
        if not replayed:
            metrics.wait_timeouts.inc()
            self.monitor.require(lsn)

    def status(self) -> dict[str, Any]:
        return self.monitor.status()

    async def start(self) -> None:
        await self.monitor.start()  # a replica down at start-up: the primary serves meanwhile

    async def stop(self) -> None:
        await self.monitor.stop()
