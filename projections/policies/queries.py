"""Reads of read model `policies`: an institution's policy per region."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from projections.framework.querying import Conn, utc
from projections.framework.shapes import money
from projections.policies.views import PolicyConfig, PolicyView, PositionLimits

_POLICY = (
    "SELECT id, institution_id, region, trim_scale(min_amount), trim_scale(max_amount),"
    " allowed_currencies, created_at, updated_at FROM policies"
)


def _policy(row: Sequence[Any]) -> PolicyView:
    id_, institution_id, region, low, high, currencies, created, updated = row
    limits = PositionLimits(
        min_amount=money(low),
        max_amount=money(high),
        allowed_currencies=None if currencies is None else list(currencies),
    )
    return PolicyView(
        id_, institution_id, region, PolicyConfig(region, limits), utc(created), utc(updated)
    )


async def list_policies(conn: Conn, institution_id: UUID) -> list[PolicyView]:
    cur = await conn.execute(
        _POLICY + " WHERE institution_id = %s ORDER BY created_at, id", (institution_id,)
    )
    return [_policy(r) for r in await cur.fetchall()]


async def get_policy(conn: Conn, institution_id: UUID, region: str) -> PolicyView | None:
    cur = await conn.execute(
        _POLICY + " WHERE institution_id = %s AND region = %s", (institution_id, region)
    )
    row = await cur.fetchone()
    return None if row is None else _policy(row)
