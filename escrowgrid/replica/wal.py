"""The statements that compare the primary's WAL with what the replica has replayed.

LSNs travel as byte offsets (int8: `pg_lsn - '0/0'`), so Python compares them as integers.
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

# A command's read-your-writes mark: a WAL record written after the read models hold the command
# (its LSN is past their commit), committed synchronously whatever the server's default, so the
# runner's asynchronous commit is flushed, and so shipped to the replica, now rather than at the
# WAL writer's next round (wal_writer_delay). PostgreSQL merges concurrent flushes.
_MARK = (
    "SELECT set_config('synchronous_commit', 'on', true),"
    " (pg_logical_emit_message(true, 'escrowgrid.replica', '') - '0/0')::int8"
)
# Everything a client has been answered for is flushed: an LSN read later covers it.
_FLUSHED = "SELECT (pg_current_wal_flush_lsn() - '0/0')::int8"
# NULL on a server that is not (or no longer) a standby: a promoted replica has diverged.
_REPLAYED = "SELECT CASE WHEN pg_is_in_recovery() THEN (pg_last_wal_replay_lsn() - '0/0')::int8 END"

# Which cluster and database a connection reaches: a standby's equal its primary's.
_IDENTITY = "SELECT system_identifier, current_database() FROM pg_control_system()"


class NotAStandby(Exception):
    """The replica URL names a server that is not replaying a primary's WAL."""


async def mark(primary: AsyncConnectionPool) -> int:
    """Flush the WAL on the primary through a fresh record; its LSN."""
    async with primary.connection() as conn:
        row = await (await conn.execute(_MARK)).fetchone()
    assert row is not None
    return int(row[1])


async def flushed(primary: AsyncConnectionPool) -> int:
    """How far the primary's WAL is flushed (every answered command lies below)."""
    async with primary.connection() as conn:
        row = await (await conn.execute(_FLUSHED)).fetchone()
    assert row is not None
    return int(row[0])


async def check_standby_of(replica: AsyncConnection[Any], primary: AsyncConnectionPool) -> None:
    """NotAStandby unless `replica` replays `primary`'s cluster and reaches the same database.

    LSNs of another cluster mean nothing here, and another database would answer other rows.
    """
    row = await (await replica.execute(_IDENTITY)).fetchone()
    async with primary.connection() as conn:
        expected = await (await conn.execute(_IDENTITY)).fetchone()
    if row is None or expected is None or row[0] != expected[0]:
        raise NotAStandby(
            "DATABASE_REPLICA_URL names a server that is not a standby of the primary"
        )
    if row[1] != expected[1]:
        raise NotAStandby(
            f"DATABASE_REPLICA_URL names database {row[1]!r}, the primary's is {expected[1]!r}"
        )


async def replayed(replica: AsyncConnection[Any]) -> int:
    """How far the replica has replayed; NotAStandby if it is not in recovery."""
    row = await (await replica.execute(_REPLAYED)).fetchone()
    if row is None or row[0] is None:
        raise NotAStandby("DATABASE_REPLICA_URL names a server that is not a standby")
    return int(row[0])
