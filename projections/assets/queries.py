"""Reads of read model `assets`; the list is paginated, oldest first."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from psycopg import sql

from projections.assets.views import AssetView
from projections.framework.querying import Conn, fetch_page, json_doc, utc
from projections.framework.shapes import Page

_ASSET = (
    "SELECT id, institution_id, template_id, label, metadata::text, created_at, updated_at FROM {}"
)


def _asset(row: Sequence[Any]) -> AssetView:
    id_, institution_id, template_id, label, metadata, created, updated = row
    return AssetView(
        id_,
        institution_id,
        template_id,
        label,
        json_doc(metadata) or {},
        utc(created),
        utc(updated),
    )


async def list_assets(
    conn: Conn,
    *,
    institution_id: UUID | None = None,
    template_id: UUID | None = None,
    limit: int = 100,
    offset: int = 0,
) -> Page[AssetView]:
    rows, pagination = await fetch_page(
        conn,
        _ASSET,
        "assets",
        [("institution_id", institution_id), ("template_id", template_id)],
        limit,
        offset,
    )
    return Page([_asset(r) for r in rows], pagination)


async def get_asset(conn: Conn, id: UUID) -> AssetView | None:
    cur = await conn.execute(
        sql.SQL(_ASSET + " WHERE id = %s").format(sql.Identifier("assets")), (id,)
    )
    row = await cur.fetchone()
    return None if row is None else _asset(row)
