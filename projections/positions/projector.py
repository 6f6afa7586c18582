"""Read model `positions`: each position's current state and money, and its transitions."""

# A batch is folded in memory first: a position opened and moved in the same batch is written
# once with COPY, and positions opened earlier get one multi-row UPDATE for the whole batch.

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from psycopg import AsyncConnection

from escrowgrid.domain.money import add_money
from projections.framework.base import Projection, Target, copy_rows, update_rows
from projections.framework.feed import LogEvent
from projections.framework.payloads import (
    POSITION_CREATED,
    POSITION_MOVED,
    plain_json,
)
from projections.positions import bulk

POSITIONS = "positions"
LIFECYCLE = "position_lifecycle"

_POSITION_COLUMNS = (
    "id",
    "institution_id",
    "asset_id",
    "template_id",
    "holder_reference",
    "currency",
    "amount",
    "released_amount",
    "state",
    "external_reference",
    "created_at",
    "updated_at",
)
_RELEASED, _STATE, _UPDATED = 7, 8, 11  # indexes into a new position's row
_LIFECYCLE_COLUMNS = (
    "position_id",
    "seq",
    "id",
    "from_state",
    "to_state",
    "reason",
    "at",
    "metadata",
    "amount",
)
_MOVE_EXISTING = """
UPDATE {positions} AS p
SET state = u.state, released_amount = p.released_amount + u.released, updated_at = u.updated_at
FROM unnest(%s::uuid[], %s::text[], %s::numeric[], %s::timestamptz[])
     AS u(id, state, released, updated_at)
WHERE p.id = u.id
"""
ZERO = Decimal(0)


@dataclass(slots=True)
class _Plan:
    opened: list[list[Any]]  # rows of positions opened in this batch, moves folded in
    moved: dict[str, list[Any]]  # positions opened earlier: [state, released now, updated_at]
    steps: list[tuple[object, ...]]  # lifecycle rows: one per transition, none for the creation


class PositionsProjection(Projection):
    """Positions with released and remaining amounts, and their lifecycle transitions."""

    name = "positions"
    tables = (POSITIONS, LIFECYCLE)
    topics = frozenset({POSITION_CREATED, POSITION_MOVED})
    append_only = frozenset({LIFECYCLE})

    def plan(self, events: Sequence[LogEvent]) -> _Plan:
        opened: dict[str, list[Any]] = {}
        moved: dict[str, list[Any]] = {}
        steps: list[tuple[object, ...]] = []
        for event in events:
            payload = event.payload
            at = payload.timestamp.data
            sid = event.stream_id
            if event.topic == POSITION_CREATED:
                opened[sid] = [
                    sid,
                    payload.institution_id.data,
                    payload.asset_id.data,
                    payload.template_id.data,
                    payload.holder_reference,
                    payload.currency,
                    payload.amount.data,
                    ZERO,
                    "CREATED",
                    payload.external_reference,
                    at,
                    at,
                ]
                continue
            released = Decimal(payload.released.data)
            row = opened.get(sid)
            if row is not None:
                row[_RELEASED] = add_money(row[_RELEASED], released)
                row[_STATE] = payload.to_state
                row[_UPDATED] = at
            elif (change := moved.get(sid)) is not None:
                change[0] = payload.to_state
                change[1] = add_money(change[1], released)
                change[2] = at
            else:
                moved[sid] = [payload.to_state, released, at]
            steps.append(
                (
                    sid,
                    event.version,
                    payload.entry_id,
                    payload.from_state,
                    payload.to_state,
                    payload.reason,
                    at,
                    plain_json(payload.metadata),
                    released if released else None,
                )
            )
        return _Plan(list(opened.values()), moved, steps)

    def bulk_statements(self, target: Target, upto: int) -> list[list[tuple[str, list[Any]]]]:
        return bulk.statements(target, upto)

    async def write(self, conn: AsyncConnection[Any], target: Target, plan: _Plan) -> None:
        if plan.opened:
            await copy_rows(conn, target, POSITIONS, _POSITION_COLUMNS, plan.opened)
        if plan.moved:
            ids = list(plan.moved)
            changes = list(plan.moved.values())
            await update_rows(
                conn,
                target.sql(_MOVE_EXISTING),
                [ids, [c[0] for c in changes], [c[1] for c in changes], [c[2] for c in changes]],
                expected=len(ids),
                what="moves of positions the read model does not hold",
            )
        if plan.steps:
            await copy_rows(conn, target, LIFECYCLE, _LIFECYCLE_COLUMNS, plan.steps)


PROJECTION = PositionsProjection()
