"""Projection `onchain_outbox`: queues every event of an on-chain position, exactly once."""

# A follower of the log like any read model, run by the projection runner (tracking, advisory
# lock, gap-safe reads): its queue rows commit with its tracking position, so a crash either
# queued a batch whole or not at all. It keeps its own small tables of on-chain templates,
# assets and positions, so it needs no other read model.

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from psycopg import AsyncConnection

from escrowgrid.domain.templates import config_onchain
from escrowgrid.eventlog.hashing import GENESIS, digest_step
from projections.framework.base import Projection, Target
from projections.framework.feed import LogEvent
from projections.framework.payloads import (
    ASSET_REGISTERED,
    POSITION_CREATED,
    POSITION_MOVED,
    TEMPLATE_DEFINED,
    dashed_uuid,
    plain_json,
)

log = logging.getLogger("escrowgrid.onchain")

NAME = "onchain_outbox"
_TEMPLATES = (
    "SELECT template_id::text, chain_id FROM {onchain_templates}"
    " WHERE template_id = ANY(%s::uuid[])"
)
_ASSETS = (
    "SELECT asset_id::text, template_id::text FROM {onchain_assets}"
    " WHERE asset_id = ANY(%s::uuid[])"
)
_POSITIONS = "SELECT position_id::text FROM {onchain_positions} WHERE position_id = ANY(%s::uuid[])"


_TOPICS = frozenset({TEMPLATE_DEFINED, ASSET_REGISTERED, POSITION_CREATED, POSITION_MOVED})


class OutboxProjection(Projection):
    """Queue rows for the positions of templates with `config.onchain.enabled` on our chain."""

    name = NAME
    tables = (
        "onchain_templates",
        "onchain_assets",
        "onchain_positions",
        "onchain_outbox",
        "onchain_digest",
        "onchain_anchors",
    )
    topics = None  # every event: the anchored digest folds them all
    wants_hash = True

    def __init__(self, chain_id: int | None, anchor_interval: int = 0) -> None:
        self.chain_id = chain_id
        self.anchor_interval = anchor_interval

    async def write(
        self, conn: AsyncConnection[Any], target: Target, plan: Sequence[LogEvent]
    ) -> None:
        named_templates = [
            dashed_uuid(e.payload.template_id) for e in plan if e.topic == ASSET_REGISTERED
        ]
        named_assets = [
            dashed_uuid(e.payload.asset_id) for e in plan if e.topic == POSITION_CREATED
        ]
        templates = await _known(conn, target, _TEMPLATES, named_templates)
        assets = await _known(conn, target, _ASSETS, named_assets)
        moved = [e.stream_id for e in plan if e.topic == POSITION_MOVED]
        cur = await conn.execute(target.sql(_POSITIONS), (moved,))
        positions = {row[0] for row in await cur.fetchall()}
        rows: dict[str, list[tuple[object, ...]]] = {
            "onchain_templates": [],
            "onchain_assets": [],
            "onchain_positions": [],
            "onchain_outbox": [],
        }
        for event in plan:
            if event.topic not in _TOPICS:
                continue
            payload = event.payload
            if event.topic == TEMPLATE_DEFINED:
                enabled, chain = config_onchain(json.loads(plain_json(payload.config) or "{}"))
                if enabled:
                    templates[event.stream_id] = chain
                    rows["onchain_templates"].append((event.stream_id, chain))
            elif event.topic == ASSET_REGISTERED:
                template = dashed_uuid(payload.template_id)
                if template in templates:
                    assets[event.stream_id] = template
                    rows["onchain_assets"].append((event.stream_id, template))
            elif event.topic == POSITION_CREATED:
                owner: str | None = assets.get(dashed_uuid(payload.asset_id))
                if owner is None:
                    continue
                chain = templates.get(owner)
                if chain is not None and chain != self.chain_id:
                    log.info(
                        "onchain_ledger_skip",
                        extra={
                            "event": "onchain_ledger_skip",
                            "positionId": event.stream_id,
                            "templateId": owner,
                            "templateChainId": chain,
                            "chainId": self.chain_id,
                            "logPosition": event.position,
                        },
                    )
                    continue
                positions.add(event.stream_id)
                rows["onchain_positions"].append((event.stream_id, owner))
                rows["onchain_outbox"].append(_queued(event, "POSITION_CREATED"))
            elif event.topic == POSITION_MOVED and event.stream_id in positions:
                rows["onchain_outbox"].append(_queued(event, "POSITION_STATE_CHANGED"))
        for table, values in rows.items():
            await _insert(conn, target, table, values)
        # The digest is folded even when no anchor is due by count: anchoring by time, or by
        # count turned on later, anchors the digest of the whole log.
        await self._fold(conn, target, plan)

    async def _fold(
        self, conn: AsyncConnection[Any], target: Target, plan: Sequence[LogEvent]
    ) -> None:
        if not plan:
            return
        cur = await conn.execute(target.sql(_DIGEST))
        row = await cur.fetchone()
        digest, count = (GENESIS, 0) if row is None else (bytes(row[0]), int(row[1]))
        anchors: list[tuple[object, ...]] = []
        for event in plan:
            assert event.hash is not None
            digest = digest_step(digest, event.position, event.hash)
            count += 1
            if self.anchor_interval and count % self.anchor_interval == 0:
                anchors.append((event.position, digest))
        await conn.execute(target.sql(_DIGEST_WRITE), (plan[-1].position, digest, count))
        await _insert(conn, target, "onchain_anchors", anchors)


def _queued(event: LogEvent, kind: str) -> tuple[object, ...]:
    assert event.hash is not None
    # The payload on chain is the event's stored state, byte for byte: with the log position
    # and the event hash beside it, anyone can recompute the hash chain from the chain alone.
    return (event.position, event.stream_id, kind, event.hash, event.state.decode())


async def _known(
    conn: AsyncConnection[Any], target: Target, query: str, ids: list[str]
) -> dict[str, Any]:
    """Rows of earlier batches for the ids this batch names."""
    if not ids:
        return {}
    cur = await conn.execute(target.sql(query), (ids,))
    return {row[0]: row[1] for row in await cur.fetchall()}


_DIGEST = "SELECT digest, event_count FROM {onchain_digest} WHERE id"
_DIGEST_WRITE = """
INSERT INTO {onchain_digest} (id, position, digest, event_count) VALUES (true, %s, %s, %s)
ON CONFLICT (id) DO UPDATE
SET position = excluded.position, digest = excluded.digest, event_count = excluded.event_count
"""
_COLUMNS = {
    "onchain_anchors": "log_position, digest",
    "onchain_templates": "template_id, chain_id",
    "onchain_assets": "asset_id, template_id",
    "onchain_positions": "position_id, template_id",
    "onchain_outbox": "log_position, position_id, kind, event_hash, payload_json",
}


async def _insert(
    conn: AsyncConnection[Any], target: Target, table: str, values: list[tuple[object, ...]]
) -> None:
    if not values:
        return
    marks = ", ".join(["%s"] * len(values[0]))
    statement = target.sql(
        f"INSERT INTO {{{table}}} ({_COLUMNS[table]}) VALUES ({marks})"  # noqa: S608 - our names
    )
    async with conn.cursor() as cur:
        await cur.executemany(statement, values)
