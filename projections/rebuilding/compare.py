"""Row-by-row comparison of a live read table with a copy rebuilt from the log."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from psycopg import AsyncConnection, sql

from projections.framework.base import LIVE_SCHEMA


@dataclass(frozen=True)
class Mismatch:
    """The first row (in primary-key order) that differs, is missing, or is extra."""

    table: str
    key: dict[str, Any]
    live: dict[str, Any] | None
    rebuilt: dict[str, Any] | None

    def __str__(self) -> str:
        where = ", ".join(f"{k}={v}" for k, v in self.key.items())
        if self.live is None:
            return f"{self.table} ({where}): in the rebuilt copy but not in the live table"
        if self.rebuilt is None:
            return f"{self.table} ({where}): in the live table but not in the rebuilt copy"
        columns = sorted(k for k in self.live if self.live.get(k) != self.rebuilt.get(k))
        details = "; ".join(
            f"{c}: live {self.live.get(c)!s}, rebuilt {self.rebuilt.get(c)!s}" for c in columns
        )
        return f"{self.table} ({where}): {details}"


async def primary_key(conn: AsyncConnection[Any], table: str) -> list[str]:
    cur = await conn.execute(
        "SELECT a.attname FROM pg_index AS i"
        " JOIN pg_attribute AS a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)"
        " WHERE i.indrelid = %s::regclass AND i.indisprimary"
        " ORDER BY array_position(i.indkey::int2[], a.attnum)",
        (f"{LIVE_SCHEMA}.{table}",),
    )
    return [str(name) for (name,) in await cur.fetchall()]


async def first_mismatch(
    conn: AsyncConnection[Any], table: str, rebuilt_schema: str
) -> Mismatch | None:
    """Compare every column of every row (as jsonb, so 1.5 = 1.50 and NULLs compare)."""
    key = await primary_key(conn, table)
    columns = sql.SQL(", ").join(sql.Identifier(k) for k in key)
    cur = await conn.execute(
        sql.SQL(
            "SELECT to_jsonb(l)::text, to_jsonb(r)::text, json_build_array({keys})::text"
            " FROM {live} AS l FULL JOIN {rebuilt} AS r USING ({columns})"
            " WHERE to_jsonb(l) IS DISTINCT FROM to_jsonb(r)"
            " ORDER BY {columns} LIMIT 1"
        ).format(
            keys=columns,
            live=sql.Identifier(LIVE_SCHEMA, table),
            rebuilt=sql.Identifier(rebuilt_schema, table),
            columns=columns,
        )
    )
    row = await cur.fetchone()
    if row is None:
        return None
    live, rebuilt, values = row
    return Mismatch(
        table,
        dict(zip(key, _load(values), strict=True)),
        None if live is None else _load(live),
        None if rebuilt is None else _load(rebuilt),
    )


def _load(text: str) -> Any:
    return json.loads(text, parse_float=Decimal)  # money stays exact, even in a message
