"""A running command layer outside the API (benchmarks, tests): pool, appender, loader, Ledger."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from psycopg_pool import AsyncConnectionPool

from escrowgrid.commands import Ledger
from escrowgrid.database import open_pool
from escrowgrid.eventlog.appender import Appender
from escrowgrid.eventlog.loader import StreamLoader


@dataclass
class Running:
    ledger: Ledger
    pool: AsyncConnectionPool
    appender: Appender


@asynccontextmanager
async def open_ledger(dsn: str, *, min_size: int = 1, max_size: int = 10) -> AsyncIterator[Running]:
    """Open the pool, start the appender and loader; stop and close them on the way out."""
    pool = open_pool(dsn, min_size=min_size, max_size=max_size)
    await pool.open(wait=True)
    appender = Appender(pool)
    loader = StreamLoader(pool)
    await appender.start()
    await loader.start()
    try:
        yield Running(Ledger(pool, appender, loader), pool, appender)
    finally:
        await loader.stop()
        await appender.stop()
        await pool.close()
