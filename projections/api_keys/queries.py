"""Reads of read model `api_keys`: authentication's lookup by hash, and an institution's keys."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from projections.api_keys.views import ApiKeyAuth, ApiKeyView
from projections.framework.querying import Conn, maybe_utc, utc


async def find_api_keys_by_hash(conn: Conn, key_hashes: Sequence[str]) -> dict[str, ApiKeyAuth]:
    """The keys with these SHA-256 hexes, by hash (revoked ones too: the caller says 401; an
    unknown hash is left out). One index probe each, in one statement."""
    cur = await conn.execute(
        "SELECT key_hash, id, institution_id, role, revoked_at FROM api_keys"
        " WHERE key_hash = ANY(%s::text[])",
        (list(key_hashes),),
    )
    return {
        key_hash: ApiKeyAuth(id_, institution_id, role, maybe_utc(revoked))
        for key_hash, id_, institution_id, role, revoked in await cur.fetchall()
    }


_API_KEY = "SELECT id, institution_id, label, role, created_at, revoked_at FROM api_keys"


def _api_key(row: Sequence[Any]) -> ApiKeyView:
    id_, institution_id, label, role, created, revoked = row
    return ApiKeyView(
        id=id_,
        institution_id=institution_id,
        label=label,
        role=role,
        created_at=utc(created),
        revoked_at=maybe_utc(revoked),
    )


async def list_api_keys(conn: Conn, institution_id: UUID) -> list[ApiKeyView]:
    """The institution's keys that are not revoked, oldest first."""
    cur = await conn.execute(
        _API_KEY + " WHERE institution_id = %s AND revoked_at IS NULL ORDER BY created_at, id",
        (institution_id,),
    )
    return [_api_key(r) for r in await cur.fetchall()]


async def get_api_key(conn: Conn, institution_id: UUID, key_id: str) -> ApiKeyView | None:
    """One key of the institution, revoked or not."""
    cur = await conn.execute(
        _API_KEY + " WHERE institution_id = %s AND id = %s", (institution_id, key_id)
    )
    row = await cur.fetchone()
    return None if row is None else _api_key(row)
