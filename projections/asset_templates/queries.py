"""Reads of read model `asset_templates`; the list is paginated, oldest first."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from psycopg import sql

from projections.asset_templates.views import AssetTemplateView
from projections.framework.querying import Conn, fetch_page, json_doc, utc
from projections.framework.shapes import Page

_TEMPLATE = (
    "SELECT id, institution_id, code, name, vertical, region, config::text, created_at,"
    " updated_at FROM {}"
)


def _template(row: Sequence[Any]) -> AssetTemplateView:
    id_, institution_id, code, name, vertical, region, config, created, updated = row
    return AssetTemplateView(
        id_,
        institution_id,
        code,
        name,
        vertical,
        region,
        json_doc(config) or {},
        utc(created),
        utc(updated),
    )


async def list_asset_templates(
    conn: Conn, *, institution_id: UUID | None = None, limit: int = 100, offset: int = 0
) -> Page[AssetTemplateView]:
    rows, pagination = await fetch_page(
        conn, _TEMPLATE, "asset_templates", [("institution_id", institution_id)], limit, offset
    )
    return Page([_template(r) for r in rows], pagination)


async def get_asset_template(conn: Conn, id: UUID) -> AssetTemplateView | None:
    cur = await conn.execute(
        sql.SQL(_TEMPLATE + " WHERE id = %s").format(sql.Identifier("asset_templates")), (id,)
    )
    row = await cur.fetchone()
    return None if row is None else _template(row)
