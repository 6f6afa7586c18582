"""The audit trail: accepted commands (read model `audit_events`) and refused ones."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec
from psycopg import sql

from projections.audit_events.views import AuditEventView, RefusalError
from projections.framework.querying import Conn, utc, where_clause
from projections.framework.shapes import Page, Pagination

# Accepted commands come from the log (the audit_events read model); refused ones from
# command_refusals, which the API writes and no projection owns (a rebuild leaves it alone).
# Each side reads its own index in (at, key) order and the union merges them (Merge Append):
# refusal ids count down from -1, log positions up from 1, so (at, sort_key) is unique.
_ACCEPTED = (
    "SELECT 'accepted' AS outcome, first_position AS sort_key, at, first_position,"
    " last_position, action, actor_key_id, actor_role, institution_id, request_id, client_addr,"
    " stream_ids, event_count, meta->>'commandId', NULL::text, NULL::text, NULL::smallint,"
    " NULL::text, NULL::text, NULL::text FROM audit_events",
    " ORDER BY at, first_position LIMIT %s",
)
_REFUSED = (
    "SELECT 'refused' AS outcome, id AS sort_key, at, NULL::bigint, NULL::bigint, action,"
    " actor_key_id, actor_role, institution_id, request_id, client_addr, '{}'::uuid[], 0,"
    " NULL::text, method, route, status, error_code, error, details::text FROM command_refusals",
    " ORDER BY at, id LIMIT %s",
)
_MAX_ROWS = 2**63 - 1
_details = msgspec.json.Decoder(list[dict[str, str]])


async def list_audit_events(
    conn: Conn,
    *,
    institution_id: UUID | None = None,
    action: str | None = None,
    outcome: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> Page[AuditEventView]:
    """Commands accepted and refused, oldest first; `since` inclusive, `until` exclusive."""
    where, params = where_clause(
        [("institution_id", institution_id), ("action", action)],
        [("at", ">=", since), ("at", "<", until)],
    )
    parts = [
        (table, select)
        for name, table, select in (
            ("accepted", "audit_events", _ACCEPTED),
            ("refused", "command_refusals", _REFUSED),
        )
        if outcome in (None, name)
    ]
    counts = sql.SQL(" + ").join(
        sql.SQL("(SELECT count(*) FROM {}").format(sql.Identifier(table)) + where + sql.SQL(")")
        for table, _ in parts
    )
    cur = await conn.execute(sql.SQL("SELECT ") + counts, params * len(parts))
    row = await cur.fetchone()
    total = int(row[0]) if row else 0
    union = sql.SQL(" UNION ALL ").join(
        sql.SQL("(") + sql.SQL(select) + where + sql.SQL(order) + sql.SQL(")")
        for _, (select, order) in parts
    )
    enough = min(offset + limit, _MAX_ROWS)  # no side can give more rows than the page needs
    cur = await conn.execute(
        sql.SQL("SELECT * FROM (")
        + union
        + sql.SQL(") AS trail ORDER BY at, sort_key LIMIT %s OFFSET %s"),
        [*[p for _ in parts for p in (*params, enough)], limit, offset],
    )
    rows = await cur.fetchall()
    data = [_audit_event(row) for row in rows]
    return Page(data, Pagination(total, limit, offset, offset + len(rows) < total))


def _audit_event(row: Sequence[Any]) -> AuditEventView:
    (
        outcome, sort_key, at, first, last, act, key_id, role, inst, request_id, client, streams,
        count, command, method, route, status, code, message, details,
    ) = row  # fmt: skip
    refused = outcome == "refused"
    return AuditEventView(
        first, last, act, key_id, role, inst, request_id, client, utc(at), list(streams), count,
        command_id=command,
        outcome=outcome,
        refusal_id=-sort_key if refused else None,  # stored counting down (0052)
        method=method,
        route=route,
        status=status,
        error=RefusalError(code, message, _refusal_details(details)) if refused else None,
    )  # fmt: skip


def _refusal_details(text: str | None) -> list[dict[str, str]] | None:
    if text is None:
        return None
    try:
        return _details.decode(text)
    except msgspec.ValidationError:
        return None  # not the field list our answers carry; the message says enough
