"""Advisory locks that let one runner at a time work on a projection, across processes."""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from typing import Any

from psycopg import AsyncConnection

# Two-key advisory locks (class, projection); the class keeps them apart from other users.
LOCK_CLASS = 0x45475052  # "EGPR"


def lock_key(name: str) -> int:
    """A stable non-negative int4 for a projection name."""
    return zlib.crc32(name.encode()) & 0x7FFF_FFFF


async def try_acquire(conn: AsyncConnection[Any], names: Iterable[str]) -> set[str]:
    """Take every free lock among `names` for this session; return the names now held."""
    # Session-level locks: they last until released or until the connection ends, which is how
    # a dead runner's projections become free for another process.
    by_key = {lock_key(n): n for n in names}
    if not by_key:
        return set()
    cur = await conn.execute(
        "SELECT k FROM unnest(%s::int[]) AS k WHERE pg_try_advisory_lock(%s, k)",
        (list(by_key), LOCK_CLASS),
    )
    return {by_key[k] for (k,) in await cur.fetchall()}


async def holders(conn: AsyncConnection[Any], names: Iterable[str]) -> dict[str, str]:
    """Which session holds each projection's lock: application_name and backend pid."""
    by_key = {lock_key(n): n for n in names}
    cur = await conn.execute(
        "SELECT l.objid::bigint, a.application_name, l.pid FROM pg_locks AS l"
        " LEFT JOIN pg_stat_activity AS a ON a.pid = l.pid"
        " WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2"
        " AND l.classid::bigint = %s"
        " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        (LOCK_CLASS,),
    )
    found: dict[str, str] = {}
    for key, app, pid in await cur.fetchall():
        if key in by_key:
            found[by_key[key]] = f"{app or '?'} (backend pid {pid})"
    return found
