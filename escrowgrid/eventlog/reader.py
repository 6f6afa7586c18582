"""Reading the log: one stream for an aggregate, or the whole log in order for followers."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from psycopg import AsyncConnection

from escrowgrid.eventlog.records import PendingEvent, RecordedEvent

_COLUMNS = (
    "position, stream_id, version, topic, state, tenant_id, meta, recorded_at, prev_hash, hash"
)


def _recorded(row: tuple[Any, ...]) -> RecordedEvent:
    pos, sid, ver, topic, state, tenant, meta, at, prev, digest = row
    return RecordedEvent(
        position=pos,
        stream_id=sid,
        version=ver,
        topic=topic,
        state=bytes(state),
        tenant_id=tenant,
        meta=meta,
        recorded_at=at,
        prev_hash=None if prev is None else bytes(prev),
        hash=bytes(digest),
    )


async def load_stream(conn: AsyncConnection[Any], stream_id: UUID) -> list[PendingEvent]:
    """A stream's events in version order (empty when the stream does not exist)."""
    cur = await conn.execute(
        "SELECT version, topic, state FROM events WHERE stream_id = %s ORDER BY version",
        (stream_id,),
    )
    return [PendingEvent(stream_id, v, t, bytes(s)) for v, t, s in await cur.fetchall()]


async def load_streams(
    conn: AsyncConnection[Any], stream_ids: list[UUID]
) -> dict[UUID, list[PendingEvent]]:
    """Several streams in one round trip."""
    cur = await conn.execute(
        "SELECT stream_id, version, topic, state FROM events"
        " WHERE stream_id = ANY(%s::uuid[]) ORDER BY stream_id, version",
        (stream_ids,),
    )
    found: dict[UUID, list[PendingEvent]] = {sid: [] for sid in stream_ids}
    for sid, v, t, s in await cur.fetchall():
        found[sid].append(PendingEvent(sid, v, t, bytes(s)))
    return found


async def stream_records(conn: AsyncConnection[Any], stream_id: UUID) -> list[RecordedEvent]:
    """A stream's events with their hashes, for history and verification."""
    cur = await conn.execute(
        f"SELECT {_COLUMNS} FROM events WHERE stream_id = %s ORDER BY version",  # noqa: S608
        (stream_id,),
    )
    return [_recorded(r) for r in await cur.fetchall()]


async def read_after(
    conn: AsyncConnection[Any], position: int, limit: int = 1000
) -> list[RecordedEvent]:
    """Events after a log position, in log order.

    Gap-safe because every append holds the table lock until it commits (see appender.py):
    no event can become visible below a position a reader has already seen.
    """
    cur = await conn.execute(
        f"SELECT {_COLUMNS} FROM events WHERE position > %s ORDER BY position LIMIT %s",  # noqa: S608
        (position, limit),
    )
    return [_recorded(r) for r in await cur.fetchall()]


async def head_position(conn: AsyncConnection[Any]) -> int:
    """The highest committed log position (0 for an empty log)."""
    cur = await conn.execute("SELECT coalesce(max(position), 0) FROM events")
    row = await cur.fetchone()
    return int(row[0]) if row else 0


async def read_tenant_after(
    conn: AsyncConnection[Any], tenant_id: UUID, position: int, limit: int = 1000
) -> list[RecordedEvent]:
    """One institution's events after a log position, in log order."""
    cur = await conn.execute(
        f"SELECT {_COLUMNS} FROM events WHERE tenant_id = %s AND position > %s"  # noqa: S608
        " ORDER BY position LIMIT %s",
        (tenant_id, position, limit),
    )
    return [_recorded(r) for r in await cur.fetchall()]
