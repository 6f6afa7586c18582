"""ONCHAIN_FAILURE_MODE=fail: whether a command on an on-chain position may be accepted now."""

# Asked before the command appends anything, so a refused command leaves nothing half-done. The
# publisher counts as keeping up when its sender reached the node within FRESH_SECONDS and the
# log is at most ONCHAIN_MAX_LAG_EVENTS ahead of what is confirmed on chain.

from __future__ import annotations

from typing import Any
from uuid import UUID

from psycopg import AsyncConnection

from escrowgrid.config import OnchainFailureMode, OnchainSettings

FRESH_SECONDS = 10
_ON_CHAIN = """
SELECT coalesce((t.config->'onchain'->>'enabled')::boolean, false)
   AND (t.config->'onchain'->'chainId' IS NULL OR (t.config->'onchain'->>'chainId')::bigint = %s)
FROM asset_templates AS t JOIN assets AS a ON a.template_id = t.id
WHERE a.id = coalesce(%s::uuid, (SELECT asset_id FROM positions WHERE id = %s::uuid))
"""
_BEHIND = """
SELECT coalesce((SELECT reachable AND checked_at > now() - make_interval(secs => %s)
                 FROM onchain_health), false),
       (SELECT count(*) FROM onchain_outbox WHERE status <> 'published')
     + greatest(0, (SELECT coalesce(max(position), 0) FROM events)
       - coalesce((SELECT position FROM projection_tracking WHERE name = 'onchain_outbox'), 0))
"""
MARK = """
INSERT INTO onchain_health (id, checked_at, reachable) VALUES (true, now(), %s)
ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at, reachable = excluded.reachable
"""


class ChainBehind(RuntimeError):
    """The publisher cannot mirror this command now (answered 503)."""


async def check(
    conn: AsyncConnection[Any],
    settings: OnchainSettings,
    *,
    asset_id: UUID | None = None,
    position_id: UUID | None = None,
) -> None:
    """Raise ChainBehind when the mode is `fail`, the position is on chain, and we lag."""
    if not settings.enabled or settings.failure_mode is not OnchainFailureMode.FAIL:
        return
    cur = await conn.execute(_ON_CHAIN, (settings.chain_id, asset_id, position_id))
    row = await cur.fetchone()
    if row is None or not row[0]:
        return
    cur = await conn.execute(_BEHIND, (FRESH_SECONDS,))
    health = await cur.fetchone()
    assert health is not None
    reachable, behind = bool(health[0]), int(health[1])
    if not reachable:
        raise ChainBehind("the on-chain publisher cannot reach the chain; try again later")
    if behind > settings.max_lag_events:
        raise ChainBehind(
            f"the on-chain publisher is {behind} events behind (bound {settings.max_lag_events});"
            " try again later"
        )
