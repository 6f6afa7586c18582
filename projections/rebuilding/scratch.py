"""Scratch copies of a read model's tables, in their own schema beside the live ones."""

# The copy's structure is read from the live tables in the catalog, so the migrations stay the
# only place a read table is defined, and a table swapped in keeps every column, constraint and
# index name. The copy is loaded with only the primary keys it needs for its updates (a bulk load
# maintains no secondary index), tables with updates UNLOGGED and half-full pages (no WAL, HOT
# updates); then each table is made LOGGED and indexed before it can replace a live one.

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection, sql

from projections.framework.base import LIVE_SCHEMA, Projection, Target
from projections.runner import tracking

INFO = "scratch_info"
_INDEX_DEF = re.compile(r"^(CREATE (?:UNIQUE )?INDEX (\S+) ON )(?:ONLY )?\S+( USING .*)$", re.S)
_LIKE = (
    "INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING GENERATED INCLUDING IDENTITY"
    " INCLUDING STORAGE INCLUDING COMPRESSION INCLUDING COMMENTS"
)


def schema_name(kind: str, projection: Projection) -> str:
    """`eg_rebuild_positions`, `eg_verify_positions`, ..."""
    return f"eg_{kind}_{projection.name}"


@dataclass(frozen=True, slots=True)
class ScratchState:
    """Where an existing scratch copy has got to."""

    position: int
    indexed: bool


async def schema_version(conn: AsyncConnection[Any]) -> int:
    """The newest migration applied: a scratch copy from an older schema is not resumed."""
    cur = await conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations")
    row = await cur.fetchone()
    return int(row[0]) if row else 0


async def exists(conn: AsyncConnection[Any], schema: str) -> bool:
    cur = await conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,))
    return await cur.fetchone() is not None


async def drop(conn: AsyncConnection[Any], schema: str) -> None:
    await conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


async def create(conn: AsyncConnection[Any], projection: Projection, schema: str) -> None:
    """Create the empty copy, its tracking row at 0 and its info row, in one transaction."""
    async with conn.transaction():
        await drop(conn, schema)
        await conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        target = Target(schema)
        for table in projection.tables:
            # Tables that only get inserts are loaded with WAL (no rewrite later); tables that
            # get updates are UNLOGGED while they are built, then rewritten once by SET LOGGED.
            kind = "TABLE" if table in projection.append_only else "UNLOGGED TABLE"
            await conn.execute(
                sql.SQL("CREATE " + kind + " {} (LIKE {} " + _LIKE + ")").format(
                    target.table(table), sql.Identifier(LIVE_SCHEMA, table)
                )
            )
            if table not in projection.append_only:
                for name, definition in await _constraints(conn, table, primary_only=True):
                    await _add_constraint(conn, target, table, name, definition)
                # Free room in every page makes the build's updates HOT (no new index entry).
                await conn.execute(
                    sql.SQL("ALTER TABLE {} SET (fillfactor = 50)").format(target.table(table))
                )
        await conn.execute(
            sql.SQL("CREATE UNLOGGED TABLE {} (LIKE {} INCLUDING ALL)").format(
                target.table(tracking.TRACKING), sql.Identifier(LIVE_SCHEMA, tracking.TRACKING)
            )
        )
        await tracking.ensure_rows(conn, [projection.name], target)
        await conn.execute(
            sql.SQL("CREATE UNLOGGED TABLE {} (schema_version integer, indexed boolean)").format(
                target.table(INFO)
            )
        )
        await conn.execute(
            sql.SQL("INSERT INTO {} VALUES (%s, false)").format(target.table(INFO)),
            (await schema_version(conn),),
        )


async def state(
    conn: AsyncConnection[Any], projection: Projection, schema: str
) -> ScratchState | None:
    """The state of a copy that can be resumed; None when absent, from another schema
    version, or emptied by a crash (unlogged tables come back empty after one)."""
    if not await exists(conn, schema):
        return None
    target = Target(schema)
    cur = await conn.execute(
        sql.SQL("SELECT schema_version, indexed FROM {}").format(target.table(INFO))
    )
    info = await cur.fetchone()
    if info is None or info[0] != await schema_version(conn):
        return None
    positions = await tracking.read_positions(conn, [projection.name], target)
    if projection.name not in positions:
        return None
    return ScratchState(positions[projection.name], bool(info[1]))


async def finish_table(
    conn: AsyncConnection[Any], projection: Projection, schema: str, table: str
) -> None:
    """Make one table LOGGED (crash-safe) and give it the live table's constraints and indexes."""
    # Idempotent, so an interrupted finish is simply run again.
    target = Target(schema)
    async with conn.transaction():
        # Index builds sort in memory when they can; this is one session of an admin command.
        await conn.execute("SET LOCAL maintenance_work_mem = '512MB'")
        if table not in projection.append_only:
            # SET LOGGED rewrites the table (and its indexes), packed to the default fillfactor:
            # so first, while only the primary key exists.
            await conn.execute(
                sql.SQL("ALTER TABLE {} RESET (fillfactor)").format(target.table(table))
            )
            await conn.execute(sql.SQL("ALTER TABLE {} SET LOGGED").format(target.table(table)))
        have = {n for n, _ in await _constraints(conn, table, schema=schema)}
        for name, definition in await _constraints(conn, table):
            if name not in have:
                await _add_constraint(conn, target, table, name, definition)
        for definition in await _plain_indexes(conn, table):
            match = _INDEX_DEF.match(definition)
            if match is None:
                raise RuntimeError(f"unexpected index definition: {definition}")
            if await _has_relation(conn, schema, match.group(2)):
                continue
            await conn.execute(
                sql.SQL("{}{}{}").format(
                    sql.SQL(match.group(1)), target.table(table), sql.SQL(match.group(3))
                )
            )


async def mark_finished(conn: AsyncConnection[Any], schema: str) -> None:
    await conn.execute(sql.SQL("UPDATE {} SET indexed = true").format(Target(schema).table(INFO)))


async def _has_relation(conn: AsyncConnection[Any], schema: str, name: str) -> bool:
    cur = await conn.execute(
        "SELECT 1 FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND c.relname = %s",
        (schema, name),
    )
    return await cur.fetchone() is not None


async def _constraints(
    conn: AsyncConnection[Any],
    table: str,
    *,
    schema: str = LIVE_SCHEMA,
    primary_only: bool = False,
) -> list[tuple[str, str]]:
    """Index-backed constraints (primary key, unique, exclusion): (name, definition)."""
    kinds = ["p"] if primary_only else ["p", "u", "x"]
    cur = await conn.execute(
        "SELECT c.conname, pg_get_constraintdef(c.oid) FROM pg_constraint AS c"
        " JOIN pg_class AS t ON t.oid = c.conrelid"
        " JOIN pg_namespace AS n ON n.oid = t.relnamespace"
        " WHERE n.nspname = %s AND t.relname = %s AND c.contype::text = ANY(%s::text[])"
        " ORDER BY c.conname",
        (schema, table, kinds),
    )
    return [(str(n), str(d)) for n, d in await cur.fetchall()]


async def _plain_indexes(conn: AsyncConnection[Any], table: str) -> list[str]:
    """CREATE INDEX statements of the live table's indexes that no constraint owns."""
    cur = await conn.execute(
        "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index AS i"
        " JOIN pg_class AS t ON t.oid = i.indrelid"
        " JOIN pg_namespace AS n ON n.oid = t.relnamespace"
        " JOIN pg_class AS ix ON ix.oid = i.indexrelid"
        " WHERE n.nspname = %s AND t.relname = %s"
        " AND NOT EXISTS (SELECT 1 FROM pg_constraint AS c WHERE c.conindid = i.indexrelid)"
        " ORDER BY ix.relname",
        (LIVE_SCHEMA, table),
    )
    return [str(d) for (d,) in await cur.fetchall()]


async def _add_constraint(
    conn: AsyncConnection[Any], target: Target, table: str, name: str, definition: str
) -> None:
    await conn.execute(
        sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
            target.table(table), sql.Identifier(name), sql.SQL(definition)
        )
    )
