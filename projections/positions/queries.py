"""Reads of read model `positions`: positions with their lifecycle steps."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from projections.framework.querying import Conn, fetch_page, json_doc, utc
from projections.framework.shapes import Money, Page, money
from projections.positions.views import LifecycleEvent, PositionView

_POSITION = (
    "SELECT id, institution_id, asset_id, template_id, holder_reference, currency,"
    " trim_scale(amount), state, external_reference, created_at, updated_at,"
    " trim_scale(released_amount), trim_scale(remaining_amount) FROM {}"
)
_LIFECYCLE = (
    "SELECT position_id, id, from_state, to_state, reason, at, metadata::text, trim_scale(amount)"
    " FROM position_lifecycle WHERE position_id = ANY(%s) ORDER BY position_id, seq"
)
# One position with its steps in one round trip (a read is three statements with auth: two).
_POSITION_WITH_STEPS = (
    "SELECT p.id, p.institution_id, p.asset_id, p.template_id, p.holder_reference, p.currency,"
    " trim_scale(p.amount), p.state, p.external_reference, p.created_at, p.updated_at,"
    " trim_scale(p.released_amount), trim_scale(p.remaining_amount),"
    " l.id, l.from_state, l.to_state, l.reason, l.at, l.metadata::text, trim_scale(l.amount)"
    " FROM positions AS p LEFT JOIN position_lifecycle AS l ON l.position_id = p.id"
    " WHERE p.id = %s ORDER BY l.seq"
)
_STEP_AT = 13  # where a step's columns start in those rows


def _step(position_id: UUID, row: Sequence[Any]) -> LifecycleEvent:
    id_, from_state, to_state, reason, at, metadata, amount = row
    return LifecycleEvent(
        id=id_,
        position_id=position_id,
        from_state=from_state,
        to_state=to_state,
        reason=reason,
        at=utc(at),
        metadata=json_doc(metadata),
        amount=money(amount),
    )


async def _lifecycles(conn: Conn, ids: list[UUID]) -> dict[UUID, list[LifecycleEvent]]:
    found: dict[UUID, list[LifecycleEvent]] = {i: [] for i in ids}
    if not ids:
        return found
    cur = await conn.execute(_LIFECYCLE, (ids,))
    for row in await cur.fetchall():
        found[row[0]].append(_step(row[0], row[1:]))
    return found


def _position(row: Sequence[Any], events: list[LifecycleEvent]) -> PositionView:
    (id_, institution_id, asset_id, template_id, holder, currency, amount, state, external,
     created, updated, released, remaining) = row  # fmt: skip
    return PositionView(
        id=id_,
        institution_id=institution_id,
        asset_id=asset_id,
        holder_reference=holder,
        currency=currency,
        amount=Money(amount),
        state=state,
        external_reference=external,
        created_at=utc(created),
        updated_at=utc(updated),
        events=events,
        template_id=template_id,
        released_amount=Money(released),
        remaining_amount=Money(remaining),
    )


async def list_positions(
    conn: Conn,
    *,
    institution_id: UUID | None = None,
    asset_id: UUID | None = None,
    holder_reference: str | None = None,
    state: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> Page[PositionView]:
    rows, pagination = await fetch_page(
        conn,
        _POSITION,
        "positions",
        [
            ("institution_id", institution_id),
            ("asset_id", asset_id),
            ("holder_reference", holder_reference),
            ("state", state),
        ],
        limit,
        offset,
    )
    events = await _lifecycles(conn, [r[0] for r in rows])
    return Page([_position(r, events[r[0]]) for r in rows], pagination)


async def get_position(conn: Conn, id: UUID) -> PositionView | None:
    cur = await conn.execute(_POSITION_WITH_STEPS, (id,))
    rows = await cur.fetchall()
    if not rows:
        return None
    # Each row: the position's columns, then one step's (NULLs when it has none).
    steps = [_step(id, row[_STEP_AT:]) for row in rows if row[_STEP_AT] is not None]
    return _position(rows[0][:_STEP_AT], steps)
