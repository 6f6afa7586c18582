"""Tracking positions: how far each projector has got in the log, kept beside its rows."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from psycopg import AsyncConnection, AsyncCursor

from projections.framework.base import LIVE, Target

TRACKING = "projection_tracking"

_ENSURE = """
INSERT INTO {projection_tracking} (name) SELECT unnest(%s::text[]) ON CONFLICT (name) DO NOTHING
"""

# The row lock orders a projector's batch against a rebuild's swap and against a second runner
# that lost its advisory lock without knowing: whoever comes second reads the new position.
_LOCK = """
SELECT name, position, (SELECT coalesce(max(position), 0) FROM events)
FROM {projection_tracking} WHERE name = ANY(%s) ORDER BY name FOR UPDATE
"""
_READ = "SELECT name, position FROM {projection_tracking}"
_ADVANCE = """
UPDATE {projection_tracking} AS t SET position = u.position, updated_at = clock_timestamp()
FROM unnest(%s::text[], %s::bigint[]) AS u(name, position) WHERE t.name = u.name
"""
_ADVANCE_AND_NOTIFY = "WITH advanced AS (" + _ADVANCE + " RETURNING 1) SELECT pg_notify(%s, %s)"


async def ensure_rows(
    conn: AsyncConnection[Any], names: Iterable[str], target: Target = LIVE
) -> None:
    """Give every named projection a tracking row (position 0) if it has none."""
    await conn.execute(target.sql(_ENSURE), (list(names),))


async def lock_positions(
    conn: AsyncConnection[Any], names: Iterable[str], target: Target = LIVE
) -> tuple[dict[str, int], int]:
    """Positions of the named projections, row-locked until the transaction ends, and the head
    of the log (every event up to it is visible: the log is gap-safe)."""
    return await locked(await send_lock(conn, names, target))


async def send_lock(
    conn: AsyncConnection[Any], names: Iterable[str], target: Target = LIVE
) -> AsyncCursor[Any]:
    """`lock_positions`'s statement, sent; in pipeline mode its answer is not waited for."""
    return await conn.execute(target.sql(_LOCK), (list(names),))


async def locked(cur: AsyncCursor[Any]) -> tuple[dict[str, int], int]:
    """The positions and head a `send_lock` statement answered."""
    rows = await cur.fetchall()
    head = int(rows[0][2]) if rows else 0
    return {name: int(position) for name, position, _ in rows}, head


async def read_positions(
    conn: AsyncConnection[Any], names: Iterable[str] | None = None, target: Target = LIVE
) -> dict[str, int]:
    """Positions without locking (all rows when names is None)."""
    if names is None:
        cur = await conn.execute(target.sql(_READ))
    else:
        cur = await conn.execute(target.sql(_READ + " WHERE name = ANY(%s)"), (list(names),))
    return {name: int(position) for name, position in await cur.fetchall()}


async def advance(
    conn: AsyncConnection[Any],
    positions: Mapping[str, int],
    target: Target = LIVE,
    *,
    notify: tuple[str, str] | None = None,
) -> None:
    """Record new positions, in the transaction that wrote the rows they account for; with
    `notify` (channel, payload), also NOTIFY in the same statement (sent at commit)."""
    params: list[object] = [list(positions), list(positions.values())]
    if notify is None:
        await conn.execute(target.sql(_ADVANCE), params)
    else:
        await conn.execute(target.sql(_ADVANCE_AND_NOTIFY), [*params, *notify])
