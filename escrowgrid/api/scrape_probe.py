"""Measured at scrape time from the database: is it reachable, and each read model's lag.

The projector may run in its own process (the compose stack's `projector` service): the API's
scrape still reports the lag, since it measures it from the log, not from a runner in memory.
"""

from __future__ import annotations

import asyncio
import functools

from prometheus_client import Gauge
from psycopg_pool import AsyncConnectionPool

from projections.registry import NAMES
from projections.runner import lag

PROBE_SECONDS = 2.0


@functools.cache
def database_ready() -> Gauge:
    """Made on first use, in a worker (file-backed values in multiprocess mode)."""
    return Gauge(
        "escrowgrid_database_ready",
        "1 when the database answered the last scrape's probe, else 0",
        multiprocess_mode="livemostrecent",
    )


async def probe(pool: AsyncConnectionPool | None) -> None:
    """Set escrowgrid_database_ready and the projection lag gauges; never raises."""
    if pool is None:  # an app without a database (unit tests of the HTTP layer)
        return
    try:
        async with asyncio.timeout(PROBE_SECONDS):
            async with pool.connection(timeout=PROBE_SECONDS) as conn:
                lag.publish(await lag.measure(conn, NAMES))
    except Exception:  # any failure to reach the database is what the gauge reports
        database_ready().set(0)
        return
    database_ready().set(1)
