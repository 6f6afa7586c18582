"""Read model `institutions`: name, regions and verticals; key events move `updated_at`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg import AsyncConnection

from projections.framework.base import Projection, Target, copy_rows, update_rows
from projections.framework.feed import LogEvent
from projections.framework.payloads import (
    API_KEY_ISSUED,
    API_KEY_REVOKED,
    INSTITUTION_REGISTERED,
)

INSTITUTIONS = "institutions"
_COLUMNS = ("id", "name", "regions", "verticals", "created_at", "updated_at")
_UPDATED = 5
_TOUCH = """
UPDATE {institutions} AS i SET updated_at = u.updated_at
FROM unnest(%s::uuid[], %s::timestamptz[]) AS u(id, updated_at)
WHERE i.id = u.id
"""


class InstitutionsProjection(Projection):
    """Institutions, oldest first; `updated_at` follows the aggregate's (keys included)."""

    name = "institutions"
    tables = (INSTITUTIONS,)
    topics = frozenset({INSTITUTION_REGISTERED, API_KEY_ISSUED, API_KEY_REVOKED})

    def plan(self, events: Sequence[LogEvent]) -> tuple[list[list[Any]], dict[str, str]]:
        """New institutions' rows, and the new updated_at of earlier ones."""
        registered: dict[str, list[Any]] = {}
        touched: dict[str, str] = {}
        for event in events:
            payload = event.payload
            at = payload.timestamp.data
            if event.topic == INSTITUTION_REGISTERED:
                registered[event.stream_id] = [
                    event.stream_id,
                    payload.name,
                    payload.regions,
                    payload.verticals,
                    at,
                    at,
                ]
            elif event.stream_id in registered:
                registered[event.stream_id][_UPDATED] = at
            else:
                touched[event.stream_id] = at
        return list(registered.values()), touched

    async def write(
        self,
        conn: AsyncConnection[Any],
        target: Target,
        plan: tuple[list[list[Any]], dict[str, str]],
    ) -> None:
        registered, touched = plan
        if registered:
            await copy_rows(conn, target, INSTITUTIONS, _COLUMNS, registered)
        if touched:
            await update_rows(
                conn,
                target.sql(_TOUCH),
                [list(touched), list(touched.values())],
                expected=len(touched),
                what="key events of institutions the read model does not hold",
            )


PROJECTION = InstitutionsProjection()
