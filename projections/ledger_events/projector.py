"""Read model `ledger_events`: the contract's POSITION_CREATED / POSITION_STATE_CHANGED feed."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import msgspec
from psycopg import AsyncConnection

from escrowgrid.domain.money import format_amount
from projections.framework.base import Projection, Target, copy_rows
from projections.framework.feed import LogEvent
from projections.framework.payloads import (
    POSITION_CREATED,
    POSITION_MOVED,
    dashed_uuid,
    plain_json,
)

LEDGER_EVENTS = "ledger_events"
CREATED = "POSITION_CREATED"
STATE_CHANGED = "POSITION_STATE_CHANGED"
_COLUMNS = (
    "log_position",
    "id",
    "kind",
    "position_id",
    "institution_id",
    "at",
    "previous_state",
    "new_state",
    "payload",
)
_encode = msgspec.json.encode


class LedgerEventsProjection(Projection):
    """One row per position event, in log order; `payload` holds what the event added.

    Amounts in `payload` are canonical decimal strings, as in every answer ("12.5", not "12.50").
    """

    name = "ledger_events"
    tables = (LEDGER_EVENTS,)
    topics = frozenset({POSITION_CREATED, POSITION_MOVED})
    append_only = frozenset({LEDGER_EVENTS})
    wants_context = True  # the institution of a move is its event's tenant

    def plan(self, events: Sequence[LogEvent]) -> list[tuple[object, ...]]:
        rows: list[tuple[object, ...]] = []
        for event in events:
            payload = event.payload
            at = payload.timestamp.data
            if event.topic == POSITION_CREATED:
                body = {
                    "institutionId": dashed_uuid(payload.institution_id),
                    "assetId": dashed_uuid(payload.asset_id),
                    "templateId": dashed_uuid(payload.template_id),
                    "holderReference": payload.holder_reference,
                    "currency": payload.currency,
                    "amount": format_amount(Decimal(payload.amount.data)),
                    "externalReference": payload.external_reference,
                }
                kind, previous, new = CREATED, None, "CREATED"
            else:
                released = Decimal(payload.released.data)
                metadata = plain_json(payload.metadata)
                body = {
                    "reason": payload.reason,
                    "metadata": None if metadata is None else msgspec.Raw(metadata.encode()),
                    "amount": format_amount(released) if released else None,
                }
                kind, previous, new = STATE_CHANGED, payload.from_state, payload.to_state
            rows.append(
                (
                    event.position,
                    payload.entry_id,
                    kind,
                    event.stream_id,
                    event.tenant_id,
                    at,
                    previous,
                    new,
                    _encode(body).decode(),
                )
            )
        return rows

    async def write(
        self, conn: AsyncConnection[Any], target: Target, plan: list[tuple[object, ...]]
    ) -> None:
        await copy_rows(conn, target, LEDGER_EVENTS, _COLUMNS, plan)


PROJECTION = LedgerEventsProjection()
