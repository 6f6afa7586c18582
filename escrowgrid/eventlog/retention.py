"""How long idempotency keys are kept: never less than 24 hours."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from psycopg import AsyncConnection

MIN_RETENTION = timedelta(hours=24)
DEFAULT_RETENTION = timedelta(hours=48)


async def purge_idempotency_keys(
    conn: AsyncConnection[Any], keep: timedelta = DEFAULT_RETENTION
) -> int:
    """Delete keys older than `keep` (at least 24 hours); return how many went."""
    if keep < MIN_RETENTION:
        raise ValueError(f"idempotency keys are kept at least {MIN_RETENTION}")
    cur = await conn.execute("DELETE FROM idempotency_keys WHERE created_at < now() - %s", (keep,))
    return cur.rowcount
