"""Read model `assets`: assets registered under templates, with their metadata as jsonb."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg import AsyncConnection

from projections.framework.base import Projection, Target, copy_rows
from projections.framework.feed import LogEvent
from projections.framework.payloads import ASSET_REGISTERED, plain_json

ASSETS = "assets"
_COLUMNS = (
    "id",
    "institution_id",
    "template_id",
    "label",
    "metadata",
    "created_at",
    "updated_at",
)


class AssetsProjection(Projection):
    """Assets never change once registered, so this model only inserts."""

    name = "assets"
    tables = (ASSETS,)
    topics = frozenset({ASSET_REGISTERED})
    append_only = frozenset({ASSETS})

    def plan(self, events: Sequence[LogEvent]) -> list[tuple[object, ...]]:
        rows: list[tuple[object, ...]] = []
        for event in events:
            payload = event.payload
            at = payload.timestamp.data
            rows.append(
                (
                    event.stream_id,
                    payload.institution_id.data,
                    payload.template_id.data,
                    payload.label,
                    plain_json(payload.metadata) or "{}",
                    at,
                    at,
                )
            )
        return rows

    async def write(
        self, conn: AsyncConnection[Any], target: Target, plan: list[tuple[object, ...]]
    ) -> None:
        await copy_rows(conn, target, ASSETS, _COLUMNS, plan)


PROJECTION = AssetsProjection()
