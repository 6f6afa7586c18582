"""Read model `asset_templates`: template definitions with their config as jsonb."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg import AsyncConnection

from projections.framework.base import Projection, Target, copy_rows
from projections.framework.feed import LogEvent
from projections.framework.payloads import TEMPLATE_DEFINED, plain_json

ASSET_TEMPLATES = "asset_templates"
_COLUMNS = (
    "id",
    "institution_id",
    "code",
    "name",
    "vertical",
    "region",
    "config",
    "created_at",
    "updated_at",
)


class AssetTemplatesProjection(Projection):
    """Templates never change once defined, so this model only inserts."""

    name = "asset_templates"
    tables = (ASSET_TEMPLATES,)
    topics = frozenset({TEMPLATE_DEFINED})
    append_only = frozenset({ASSET_TEMPLATES})

    def plan(self, events: Sequence[LogEvent]) -> list[tuple[object, ...]]:
        rows: list[tuple[object, ...]] = []
        for event in events:
            payload = event.payload
            at = payload.timestamp.data
            rows.append(
                (
                    event.stream_id,
                    payload.institution_id.data,
                    payload.code,
                    payload.name,
                    payload.vertical,
                    payload.region,
                    plain_json(payload.config) or "{}",
                    at,
                    at,
                )
            )
        return rows

    async def write(
        self, conn: AsyncConnection[Any], target: Target, plan: list[tuple[object, ...]]
    ) -> None:
        await copy_rows(conn, target, ASSET_TEMPLATES, _COLUMNS, plan)


PROJECTION = AssetTemplatesProjection()
