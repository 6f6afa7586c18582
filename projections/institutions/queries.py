"""Reads of read model `institutions` (the API decides who may see which)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from psycopg import sql

from projections.framework.querying import Conn, utc, where_clause
from projections.institutions.views import InstitutionView

_INSTITUTION = "SELECT id, name, regions, verticals, created_at, updated_at FROM {}"


def _institution(row: Sequence[Any]) -> InstitutionView:
    id_, name, regions, verticals, created, updated = row
    return InstitutionView(id_, name, list(regions), list(verticals), utc(created), utc(updated))


async def get_institution(conn: Conn, id: UUID) -> InstitutionView | None:
    cur = await conn.execute(
        sql.SQL(_INSTITUTION + " WHERE id = %s").format(sql.Identifier("institutions")), (id,)
    )
    row = await cur.fetchone()
    return None if row is None else _institution(row)


async def list_institutions(conn: Conn, institution_id: UUID | None) -> list[InstitutionView]:
    """All institutions, oldest first (institution_id None), or just that one."""
    where, params = where_clause([("id", institution_id)])
    cur = await conn.execute(
        sql.SQL(_INSTITUTION).format(sql.Identifier("institutions"))
        + where
        + sql.SQL(" ORDER BY created_at, id"),
        params,
    )
    return [_institution(r) for r in await cur.fetchall()]
