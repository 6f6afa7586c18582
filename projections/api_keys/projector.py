"""Read model `api_keys`: what authentication looks up by key hash, and the key listings."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg import AsyncConnection

from projections.framework.base import Projection, Target, copy_rows, update_rows
from projections.framework.feed import LogEvent
from projections.framework.payloads import API_KEY_ISSUED, API_KEY_REVOKED

API_KEYS = "api_keys"
_COLUMNS = ("institution_id", "id", "label", "role", "key_hash", "created_at", "revoked_at")
_REVOKED_AT = 6
_REVOKE = """
UPDATE {api_keys} AS k SET revoked_at = u.revoked_at
FROM unnest(%s::uuid[], %s::text[], %s::timestamptz[]) AS u(institution_id, id, revoked_at)
WHERE k.institution_id = u.institution_id AND k.id = u.id
"""


class ApiKeysProjection(Projection):
    """Issued keys (hash only), with `revoked_at` once revoked."""

    name = "api_keys"
    tables = (API_KEYS,)
    topics = frozenset({API_KEY_ISSUED, API_KEY_REVOKED})

    def plan(
        self, events: Sequence[LogEvent]
    ) -> tuple[list[list[Any]], dict[tuple[str, str], str]]:
        """New keys' rows, and revocations of keys issued earlier."""
        issued: dict[tuple[str, str], list[Any]] = {}
        revoked: dict[tuple[str, str], str] = {}
        for event in events:
            payload = event.payload
            at = payload.timestamp.data
            key = (event.stream_id, payload.key_id)
            if event.topic == API_KEY_ISSUED:
                issued[key] = [
                    event.stream_id,
                    payload.key_id,
                    payload.label,
                    payload.role,
                    payload.key_hash,
                    at,
                    None,
                ]
            elif key in issued:
                issued[key][_REVOKED_AT] = at
            else:
                revoked[key] = at
        return list(issued.values()), revoked

    async def write(
        self,
        conn: AsyncConnection[Any],
        target: Target,
        plan: tuple[list[list[Any]], dict[tuple[str, str], str]],
    ) -> None:
        issued, revoked = plan
        if issued:
            await copy_rows(conn, target, API_KEYS, _COLUMNS, issued)
        if revoked:
            await update_rows(
                conn,
                target.sql(_REVOKE),
                [[k[0] for k in revoked], [k[1] for k in revoked], list(revoked.values())],
                expected=len(revoked),
                what="revocations of keys the read model does not hold",
            )


PROJECTION = ApiKeysProjection()
