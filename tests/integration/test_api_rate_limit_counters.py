"""Rate limiting's SQL counters on a real PostgreSQL, shared by several workers."""

from __future__ import annotations

import asyncio
import time

from escrowgrid.api import rate_limit as rl
from escrowgrid.database import open_pool

WINDOW = 60_000


def test_postgres_counters_hold_across_processes(database_url: str) -> None:
    """Two limiters with their own pools stand for two workers; one table counts for both."""

    async def go() -> None:
        pools = [open_pool(database_url, min_size=1, max_size=4) for _ in range(2)]
        for pool in pools:
            await pool.open(wait=True)
        try:
            workers = [rl.KeyLimiter(rl.Counters(pool), 20, WINDOW, workers=2) for pool in pools]
            now = int(time.time() * 1000)
            results = await asyncio.gather(
                *(workers[i % 2].check("key:pg", now) for i in range(60))
            )
            assert sum(d.allowed for d in results) == 20
            strict = rl.Counters(pools[0])
            totals = [await strict.take(rl.STRICT_TABLE, "s", 0, rl.HOUR_MS, 1) for _ in range(3)]
            assert totals == [1, 2, 3]
            async with pools[1].connection() as conn:
                cur = await conn.execute(
                    "SELECT hits, expires_at > now() FROM rate_limit_counters WHERE bucket = %s",
                    ("key:pg",),
                )
                rows = await cur.fetchall()
            assert len(rows) == 1 and rows[0][0] >= 20 and rows[0][1] is True
        finally:
            for pool in pools:
                await pool.close()

    asyncio.run(go())
