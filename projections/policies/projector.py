"""Read model `policies`: each institution's position limits per region."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg import AsyncConnection

from projections.framework.base import Projection, Target, copy_rows, update_rows
from projections.framework.feed import LogEvent
from projections.framework.payloads import (
    POLICY_SET,
    POLICY_UPDATED,
    optional_decimal_text,
)

POLICIES = "policies"
_COLUMNS = (
    "id",
    "institution_id",
    "region",
    "min_amount",
    "max_amount",
    "allowed_currencies",
    "created_at",
    "updated_at",
)
_LIMITS, _UPDATED = slice(3, 6), 7
# Currency codes are three letters, so a comma-joined list passes one row's array in unnest.
_REPLACE = """
UPDATE {policies} AS p
SET min_amount = u.min_amount, max_amount = u.max_amount,
    allowed_currencies = string_to_array(u.currencies, ','), updated_at = u.updated_at
FROM unnest(%s::uuid[], %s::numeric[], %s::numeric[], %s::text[], %s::timestamptz[])
     AS u(id, min_amount, max_amount, currencies, updated_at)
WHERE p.id = u.id
"""


class PoliciesProjection(Projection):
    """One row per (institution, region): the limits last set."""

    name = "policies"
    tables = (POLICIES,)
    topics = frozenset({POLICY_SET, POLICY_UPDATED})

    def plan(self, events: Sequence[LogEvent]) -> tuple[list[list[Any]], dict[str, list[Any]]]:
        """New policies' rows, and new limits of policies set earlier."""
        created: dict[str, list[Any]] = {}
        replaced: dict[str, list[Any]] = {}  # policies set in an earlier batch
        for event in events:
            payload = event.payload
            at = payload.timestamp.data
            limits = [
                optional_decimal_text(payload.min_amount),
                optional_decimal_text(payload.max_amount),
                payload.allowed_currencies,
            ]
            if event.topic == POLICY_SET:
                created[event.stream_id] = [
                    event.stream_id,
                    payload.institution_id.data,
                    payload.region,
                    *limits,
                    at,
                    at,
                ]
            elif (row := created.get(event.stream_id)) is not None:
                row[_LIMITS] = limits
                row[_UPDATED] = at
            else:
                replaced[event.stream_id] = [*limits, at]
        return list(created.values()), replaced

    async def write(
        self,
        conn: AsyncConnection[Any],
        target: Target,
        plan: tuple[list[list[Any]], dict[str, list[Any]]],
    ) -> None:
        created, replaced = plan
        if created:
            await copy_rows(conn, target, POLICIES, _COLUMNS, created)
        if replaced:
            rows = list(replaced.values())
            await update_rows(
                conn,
                target.sql(_REPLACE),
                [
                    list(replaced),
                    [r[0] for r in rows],
                    [r[1] for r in rows],
                    [None if r[2] is None else ",".join(r[2]) for r in rows],
                    [r[3] for r in rows],
                ],
                expected=len(rows),
                what="updates of policies the read model does not hold",
            )


PROJECTION = PoliciesProjection()
