"""Which institution owns a row a client names by id, across the read models it names."""

from __future__ import annotations

from uuid import UUID

from psycopg import sql

from projections.framework.querying import Conn

# What names an owner in each table a client refers to by id (an institution owns itself).
_OWNER_COLUMN = {
    "institutions": "id",
    "asset_templates": "institution_id",
    "assets": "institution_id",
    "positions": "institution_id",
}


async def owner_of(conn: Conn, table: str, id: UUID) -> UUID | None:
    """The institution owning the row `id` of `table`, None when there is no such row."""
    query = sql.SQL("SELECT {} FROM {} WHERE id = %s").format(
        sql.Identifier(_OWNER_COLUMN[table]), sql.Identifier(table)
    )
    cur = await conn.execute(query, (id,))
    row = await cur.fetchone()
    if row is None:
        return None
    owner: UUID = row[0]
    return owner
