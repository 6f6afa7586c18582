"""Reads of read model `ledger_events`: the ledger feed in log order."""

from __future__ import annotations

from uuid import UUID

from psycopg import sql

from projections.framework.querying import Conn, json_doc, utc, where_clause
from projections.ledger_events.views import LedgerEventView

_LEDGER = (
    "SELECT id, kind, position_id, at, previous_state, new_state, payload::text,"
    " institution_id, log_position FROM ledger_events"
)


async def list_ledger_events(
    conn: Conn, *, position_id: UUID | None = None, institution_id: UUID | None = None
) -> list[LedgerEventView]:
    """The POSITION_CREATED / POSITION_STATE_CHANGED feed in log order, oldest first."""
    where, params = where_clause([("position_id", position_id), ("institution_id", institution_id)])
    cur = await conn.execute(sql.SQL(_LEDGER) + where + sql.SQL(" ORDER BY log_position"), params)
    return [
        LedgerEventView(
            id=id_,
            kind=kind,
            position_id=pid,
            at=utc(at),
            previous_state=previous,
            new_state=new,
            payload=json_doc(payload),
            institution_id=institution_id_,
            log_position=log_position,
        )
        for id_, kind, pid, at, previous, new, payload, institution_id_, log_position in (
            await cur.fetchall()
        )
    ]
