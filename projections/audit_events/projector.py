"""Read model `audit_events`: one row per command, from the audit metadata of its events."""

# The log has no command id, so a command is a run of consecutive events with the same
# metadata (the command layer writes one metadata object per command; requestId tells requests
# apart). A run can straddle two batches: the first run of a batch then extends the last row.

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
from psycopg import AsyncConnection

from projections.framework.base import Projection, Target, array_literal, copy_rows
from projections.framework.feed import LogEvent

AUDIT_EVENTS = "audit_events"
_COLUMNS = (
    "first_position",
    "last_position",
    "action",
    "actor_key_id",
    "actor_role",
    "institution_id",
    "request_id",
    "client_addr",
    "at",
    "stream_ids",
    "event_count",
    "meta",
)
_META_FIELDS = ("action", "actorKeyId", "actorRole", "institutionId", "requestId", "clientAddr")
_LAST = """
SELECT first_position, meta::text, stream_ids::text[] FROM {audit_events}
ORDER BY first_position DESC LIMIT 1
"""
_EXTEND = """
UPDATE {audit_events}
SET last_position = %s, stream_ids = %s::uuid[], event_count = event_count + %s
WHERE first_position = %s
"""
_decode_meta = msgspec.json.Decoder(dict[str, Any])


class _Run:
    """Consecutive events sharing one metadata object: one command."""

    __slots__ = ("at", "count", "first", "last", "meta", "streams", "tenant")

    def __init__(self, event: LogEvent) -> None:
        self.first = self.last = event.position
        self.meta = event.meta or "{}"
        self.tenant = event.tenant_id
        self.at = event.recorded_at
        self.streams: dict[str, None] = {event.stream_id: None}
        self.count = 1

    def add(self, event: LogEvent) -> None:
        self.last = event.position
        self.streams[event.stream_id] = None
        self.count += 1

    def row(self) -> tuple[object, ...]:
        meta = _decode_meta.decode(self.meta)
        action, key_id, role, _, request_id, client = (_text(meta.get(f)) for f in _META_FIELDS)
        return (
            self.first,
            self.last,
            action,
            key_id,
            role,
            self.tenant,  # the event's tenant column: the same institution, already a uuid
            request_id,
            client,
            self.at,
            array_literal(self.streams),  # psycopg's list adapter costs ~5 us a row here
            self.count,
            self.meta,
        )


def _text(value: object) -> str | None:
    return None if value is None else str(value)


class AuditEventsProjection(Projection):
    """Who did what, when, from where: every command, in log order."""

    name = "audit_events"
    tables = (AUDIT_EVENTS,)
    topics = None
    wants_context = True
    wants_meta = True

    def plan(self, events: Sequence[LogEvent]) -> list[_Run]:
        runs: list[_Run] = []
        for event in events:
            if runs and runs[-1].meta == (event.meta or "{}"):
                runs[-1].add(event)
            else:
                runs.append(_Run(event))
        return runs

    async def write(self, conn: AsyncConnection[Any], target: Target, plan: list[_Run]) -> None:
        runs = list(plan)
        if not runs:
            return
        cur = await conn.execute(target.sql(_LAST))
        last = await cur.fetchone()
        if last is not None and last[1] == runs[0].meta:
            first = runs.pop(0)
            streams = dict.fromkeys([*last[2], *first.streams])
            await conn.execute(
                target.sql(_EXTEND), (first.last, array_literal(streams), first.count, last[0])
            )
        await copy_rows(conn, target, AUDIT_EVENTS, _COLUMNS, [run.row() for run in runs])


PROJECTION = AuditEventsProjection()
