"""The outbox's statements: what is due (per-position order kept), and each row's fate."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection

from escrowgrid.config import OnchainSettings

# A row is due when it is pending, its time has come, and no earlier row of its position is
# still open in any other way (sent but unconfirmed, waiting for a retry, or failed): so a later
# event never reaches the chain before an earlier one of the same position.
_DUE = """
WITH blocked AS (
    SELECT position_id, min(log_position) AS at FROM onchain_outbox
    WHERE status IN ('sent', 'failed') OR (status = 'pending' AND next_attempt_at > now())
    GROUP BY position_id
)
SELECT o.log_position, o.position_id::text, o.kind, o.event_hash, o.payload_json, o.attempts
FROM onchain_outbox AS o LEFT JOIN blocked AS b USING (position_id)
WHERE o.status = 'pending' AND o.next_attempt_at <= now()
  AND (b.at IS NULL OR o.log_position < b.at)
ORDER BY o.log_position LIMIT %s
"""
_SENT = """
UPDATE onchain_outbox SET status = 'sent', tx_hash = %s, sent_at = now(),
    attempts = attempts + 1, block_number = NULL, block_hash = NULL
WHERE log_position = ANY(%s) AND status = 'pending'
"""
_FAILED_ATTEMPT = """
UPDATE onchain_outbox SET attempts = attempts + 1, last_error = %s, status = 'pending',
    tx_hash = NULL,
    next_attempt_at = now() + make_interval(secs => least(%s * power(2, attempts), 300000) / 1000.0)
WHERE log_position = ANY(%s)
RETURNING log_position, position_id::text, attempts
"""
# A failed row's next_attempt_at is when the retry worker (ONCHAIN_RETRY_WORKER_ENABLED) may
# take it back: after the cool-down. Without the worker only `escrowgrid onchain retry` does.
_GIVE_UP = """
UPDATE onchain_outbox SET status = 'failed',
    next_attempt_at = now() + make_interval(secs => %s / 1000.0)
WHERE log_position = ANY(%s)
"""
_IN_FLIGHT = """
SELECT tx_hash, array_agg(log_position ORDER BY log_position),
    min(sent_at) < now() - make_interval(secs => %s), max(block_number), max(block_hash)
FROM onchain_outbox WHERE status = 'sent' GROUP BY tx_hash
"""
_MINED = """
UPDATE onchain_outbox SET block_number = %s, block_hash = %s WHERE tx_hash = %s AND status = 'sent'
"""
_PUBLISHED = """
UPDATE onchain_outbox SET status = 'published', published_at = now(), last_error = NULL
WHERE tx_hash = %s AND status = 'sent'
"""
_REQUEUE = """
UPDATE onchain_outbox SET status = 'pending', tx_hash = NULL, block_number = NULL,
    block_hash = NULL, next_attempt_at = now()
WHERE tx_hash = %s AND status = 'sent'
"""
_RETRY = """
UPDATE onchain_outbox SET status = 'pending', attempts = 0, next_attempt_at = now()
WHERE status = 'failed'
"""
_REVIVE = _RETRY + " AND next_attempt_at <= now()"
_STATUS = """
SELECT
    (SELECT coalesce(max(position), 0) FROM events),
    (SELECT position FROM projection_tracking WHERE name = 'onchain_outbox'),
    count(*) FILTER (WHERE status IN ('pending', 'sent')),
    count(*) FILTER (WHERE status = 'failed'),
    count(*) FILTER (WHERE status = 'published'),
    (SELECT encode(tx_hash, 'hex') FROM onchain_outbox WHERE status = 'published'
     ORDER BY published_at DESC, log_position DESC LIMIT 1),
    (SELECT coalesce(max(log_position), 0) FROM onchain_outbox WHERE status = 'published'),
    (SELECT extract(epoch FROM now() - min(o.sent_at)) FROM onchain_outbox AS o
     WHERE o.status IN ('pending', 'sent'))
FROM onchain_outbox
"""


_ANCHOR_DUE = """
SELECT log_position, digest FROM onchain_anchors
WHERE status = 'pending' OR (status = 'sent' AND sent_at < now() - make_interval(secs => %s))
ORDER BY log_position LIMIT 1
"""
# Anchoring by time (ONCHAIN_ANCHOR_INTERVAL_SECONDS): the digest the outbox projection has
# folded so far, once the oldest event after the last anchor is that many seconds old. The
# projection only ever adds anchors beyond its tracking position, so the two never collide.
_ANCHOR_BY_TIME = """
INSERT INTO onchain_anchors (log_position, digest)
SELECT d.position, d.digest
FROM onchain_digest AS d,
    LATERAL (SELECT coalesce(max(log_position), 0) AS at FROM onchain_anchors) AS last
WHERE d.position > last.at
  AND (SELECT e.recorded_at FROM events AS e WHERE e.position > last.at
       ORDER BY e.position LIMIT 1) <= now() - make_interval(secs => %s)
ON CONFLICT (log_position) DO NOTHING
"""
_ANCHOR_SENT = """
UPDATE onchain_anchors SET status = 'sent', tx_hash = %s, sent_at = now() WHERE log_position = %s
"""
_ANCHORS_IN_FLIGHT = "SELECT log_position, tx_hash FROM onchain_anchors WHERE status = 'sent'"
_ANCHOR_PUBLISHED = "UPDATE onchain_anchors SET status = 'published' WHERE log_position = %s"


async def anchor_due(conn: AsyncConnection[Any], stale_seconds: float) -> tuple[int, bytes] | None:
    """The next anchor to send (pending, or sent long ago and never confirmed)."""
    cur = await conn.execute(_ANCHOR_DUE, (stale_seconds,))
    row = await cur.fetchone()
    return None if row is None else (int(row[0]), bytes(row[1]))


async def anchor_by_time(conn: AsyncConnection[Any], seconds: int) -> bool:
    """Queue an anchor of the folded digest when the oldest unanchored event is `seconds` old."""
    cur = await conn.execute(_ANCHOR_BY_TIME, (seconds,))
    return cur.rowcount > 0


async def anchor_sent(conn: AsyncConnection[Any], log_position: int, tx_hash: bytes) -> None:
    await conn.execute(_ANCHOR_SENT, (tx_hash, log_position))


async def anchors_in_flight(conn: AsyncConnection[Any]) -> list[tuple[int, bytes]]:
    cur = await conn.execute(_ANCHORS_IN_FLIGHT)
    return [(int(r[0]), bytes(r[1])) for r in await cur.fetchall()]


async def anchor_published(conn: AsyncConnection[Any], log_position: int) -> None:
    await conn.execute(_ANCHOR_PUBLISHED, (log_position,))


@dataclass(frozen=True, slots=True)
class Queued:
    log_position: int
    position_id: str
    kind: str
    event_hash: bytes
    payload_json: str
    attempts: int


@dataclass(frozen=True, slots=True)
class InFlight:
    tx_hash: bytes
    log_positions: list[int]
    stale: bool  # sent long ago and never seen mined: the node may have lost it
    block_number: int | None
    block_hash: bytes | None


@dataclass(frozen=True, slots=True)
class Status:
    head: int
    tracked: int | None
    pending: int
    failed: int
    published: int
    last_tx: str | None
    last_published_position: int


async def due(conn: AsyncConnection[Any], limit: int) -> list[Queued]:
    cur = await conn.execute(_DUE, (limit,))
    return [Queued(r[0], r[1], r[2], bytes(r[3]), r[4], r[5]) for r in await cur.fetchall()]


async def mark_sent(conn: AsyncConnection[Any], tx_hash: bytes, positions: list[int]) -> None:
    await conn.execute(_SENT, (tx_hash, positions))


async def mark_attempt_failed(
    conn: AsyncConnection[Any], positions: list[int], error: str, settings: OnchainSettings
) -> list[tuple[int, str, int]]:
    """Count a failed attempt; rows past ONCHAIN_MAX_RETRIES become failed. Returns those rows."""
    cur = await conn.execute(_FAILED_ATTEMPT, (error[:500], settings.retry_delay_ms, positions))
    rows = [(r[0], r[1], r[2]) for r in await cur.fetchall()]
    exhausted = [r for r in rows if r[2] > settings.max_retries]
    if exhausted:
        await conn.execute(_GIVE_UP, (settings.retry_cooldown_ms, [r[0] for r in exhausted]))
    return exhausted


async def in_flight(conn: AsyncConnection[Any], stale_seconds: float) -> list[InFlight]:
    cur = await conn.execute(_IN_FLIGHT, (stale_seconds,))
    return [
        InFlight(bytes(r[0]), list(r[1]), bool(r[2]), r[3], None if r[4] is None else bytes(r[4]))
        for r in await cur.fetchall()
    ]


async def mark_mined(
    conn: AsyncConnection[Any], tx_hash: bytes, block_number: int, block_hash: bytes
) -> None:
    await conn.execute(_MINED, (block_number, block_hash, tx_hash))


async def mark_published(conn: AsyncConnection[Any], tx_hash: bytes) -> None:
    await conn.execute(_PUBLISHED, (tx_hash,))


async def requeue(conn: AsyncConnection[Any], tx_hash: bytes) -> None:
    await conn.execute(_REQUEUE, (tx_hash,))


async def retry_failed(conn: AsyncConnection[Any]) -> int:
    cur = await conn.execute(_RETRY)
    return cur.rowcount


async def revive_failed(conn: AsyncConnection[Any]) -> int:
    """The retry worker: failed rows whose cool-down is over back to the queue (attempts 0)."""
    cur = await conn.execute(_REVIVE)
    return cur.rowcount


async def status(conn: AsyncConnection[Any]) -> Status:
    cur = await conn.execute(_STATUS)
    r = await cur.fetchone()
    assert r is not None
    return Status(r[0], r[1], r[2], r[3], r[4], r[5], r[6])
