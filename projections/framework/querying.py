"""What every read model's queries share: row decoding, WHERE from filters, and a page of a list."""

# Filters are applied as given: deciding which institution a caller may see is the API's job.
# Lists run oldest first (created_at, id), or in log order for the ledger feed; paginated ones
# also count the total matching rows.

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import msgspec
from psycopg import AsyncConnection, sql

from projections.framework.shapes import Pagination

Conn = AsyncConnection[Any]
Filters = list[tuple[str, object]]

# jsonb keeps every digit of a number; reading it back as Decimal (not float) keeps them too.
_json = msgspec.json.Decoder(dict[str, Any], float_hook=Decimal)


def utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def maybe_utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC)


def json_doc(text: str | None) -> dict[str, Any] | None:
    return None if text is None else _json.decode(text)


def where_clause(
    filters: Filters, ranges: Sequence[tuple[str, str, object]] = ()
) -> tuple[sql.Composable, list[object]]:
    """`WHERE a = %s AND b >= %s ...` for the filters and (column, operator, value) bounds
    whose value is not None."""
    conditions: list[sql.Composable] = []
    params: list[object] = []
    for column, value in filters:
        if value is not None:
            conditions.append(sql.SQL("{} = %s").format(sql.Identifier(column)))
            params.append(value)
    for column, operator, value in ranges:
        if value is not None:
            conditions.append(sql.SQL("{} {} %s").format(sql.Identifier(column), sql.SQL(operator)))
            params.append(value)
    if not conditions:
        return sql.SQL(""), []
    return sql.SQL(" WHERE ") + sql.SQL(" AND ").join(conditions), params


async def fetch_page(
    conn: Conn,
    select: str,
    table: str,
    filters: Filters,
    limit: int,
    offset: int,
) -> tuple[list[tuple[Any, ...]], Pagination]:
    """One page of `select` (its `{}` is `table`) in (created_at, id) order, and the total."""
    condition, params = where_clause(filters)
    cur = await conn.execute(
        sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)) + condition, params
    )
    row = await cur.fetchone()
    total = int(row[0]) if row else 0
    cur = await conn.execute(
        sql.SQL(select).format(sql.Identifier(table))
        + condition
        + sql.SQL(" ORDER BY created_at, id LIMIT %s OFFSET %s"),
        [*params, limit, offset],
    )
    rows = await cur.fetchall()
    return rows, Pagination(total, limit, offset, offset + len(rows) < total)
