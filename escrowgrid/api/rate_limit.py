"""Rate limits: per API key in a fixed window, and strict hourly limits on sensitive creations.

Every count lives in PostgreSQL (db/migrations/0051), so the limits hold across worker
processes. The per-key limit leases tokens in batches (docs/operations-api.md has the design
and its measured cost); the strict limits take one hit per request.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import msgspec
from psycopg_pool import AsyncConnectionPool

from escrowgrid.api.request_context import ASGIApp, Message, Receive, Scope, Send
from escrowgrid.api.unavailable import send_unavailable
from escrowgrid.application import access
from escrowgrid.application.context import Actor
from escrowgrid.config import Settings

log = logging.getLogger("escrowgrid.rate_limit")

HOUR_MS = 3_600_000
API_KEY_CREATIONS_PER_HOUR = 5  # per institution
INSTITUTION_CREATIONS_PER_HOUR = 10  # per key (only the root key may create institutions)
LEASE_CAP = 100  # most tokens one process takes from a window at a time
PURGE_EVERY_S = 60.0
KEYS_TABLE = "rate_limit_counters"
STRICT_TABLE = "rate_limit_sensitive"
_TAKE = {
    table: f"INSERT INTO {table} AS c (bucket, window_start, hits, expires_at) "  # noqa: S608
    "VALUES (%s, %s, %s, to_timestamp(%s / 1000.0)) "
    "ON CONFLICT (bucket, window_start) DO UPDATE SET hits = c.hits + excluded.hits "
    "RETURNING hits"
    for table in (KEYS_TABLE, STRICT_TABLE)
}
# A margin past the window's end: workers on other hosts may run a little behind.
_PURGE = [
    f"DELETE FROM {table} WHERE expires_at < now() - interval '5 minutes'"  # noqa: S608
    for table in (KEYS_TABLE, STRICT_TABLE)
]
_INSTITUTIONS = re.compile(r"^/institutions/?$")
_API_KEYS = re.compile(r"^/institutions/([^/]+)/api-keys/?$")
_encoder = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    window_ms: int
    reset_ms: int  # end of the window, milliseconds since the epoch


class Counters:
    """Atomic adds to the shared counters; drops finished windows now and then."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool
        self._purged_at = time.monotonic()
        self._purging: set[asyncio.Task[None]] = set()

    async def take(self, table: str, bucket: str, start: int, window_ms: int, n: int) -> int:
        """Add n hits to the bucket's window; return its total after the add."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(_TAKE[table], (bucket, start, n, start + window_ms))
            row = await cur.fetchone()
        if time.monotonic() - self._purged_at > PURGE_EVERY_S:
            self._purged_at = time.monotonic()
            task = asyncio.create_task(self._purge())
            self._purging.add(task)
            task.add_done_callback(self._purging.discard)
        assert row is not None
        return int(row[0])

    async def _purge(self) -> None:
        try:
            async with self._pool.connection() as conn:
                for statement in _PURGE:
                    await conn.execute(statement)
        except Exception as exc:
            log.warning("rate-limit purge failed", extra={"error": str(exc)})


class _Window:
    """This process's share of one bucket's current window."""

    __slots__ = ("counted", "exhausted", "low", "pending", "start", "tokens")

    def __init__(self, start: int) -> None:
        self.start = start
        self.tokens = 0  # leased from PostgreSQL, not yet used
        self.low = 0  # below this many tokens, the next lease starts ahead of need
        self.counted = 0  # the window's shared total, as of this process's last lease
        self.exhausted = False
        self.pending: asyncio.Future[bool] | None = None  # the lease in flight, if any


class KeyLimiter:
    """The per-key limit: leases of tokens from the shared counter, shrinking near the limit.

    A lease takes up to 1/(2 * workers) of what is left, so a process asks PostgreSQL once per
    many requests, yet few tokens sit unused in other processes when the window runs out.
    """

    def __init__(self, counters: Counters, limit: int, window_ms: int, workers: int) -> None:
        self._counters = counters
        self.limit = limit
        self.window_ms = window_ms
        self._share = 2 * max(1, workers)
        self._windows: dict[str, _Window] = {}
        self._current = -1
        self._warned_at = 0.0

    async def check(self, bucket: str, now_ms: int) -> Decision:
        start = now_ms - now_ms % self.window_ms
        if start != self._current:  # a new window: every bucket's old state is stale
            self._windows, self._current = {}, start
        window = self._windows.get(bucket)
        if window is None:
            window = self._windows[bucket] = _Window(start)
        if not await self._tokens_for(bucket, window):
            return self._decision(True, window)  # counters unreachable: fail open
        if window.tokens == 0:
            return self._decision(False, window)
        window.tokens -= 1
        if window.tokens < window.low and window.pending is None and not window.exhausted:
            # Lease ahead, so that requests seldom wait for a round trip to PostgreSQL. Not
            # for leases of one token (near the limit): a token held ahead could strand.
            window.pending = asyncio.ensure_future(self._lease(bucket, window))
        return self._decision(True, window)

    async def _tokens_for(self, bucket: str, window: _Window) -> bool:
        """Wait until the window has a token or is exhausted; False if PostgreSQL failed."""
        while window.tokens == 0 and not window.exhausted:
            if window.pending is None:
                window.pending = asyncio.ensure_future(self._lease(bucket, window))
            # Shielded: a request that goes away must not cancel the lease others wait for.
            if not await asyncio.shield(window.pending):
                return False
        return True

    async def _lease(self, bucket: str, window: _Window) -> bool:
        want = max(1, min(LEASE_CAP, (self.limit - window.counted) // self._share))
        try:
            total = await self._counters.take(
                KEYS_TABLE, bucket, window.start, self.window_ms, want
            )
        except Exception as exc:
            if time.monotonic() - self._warned_at > 10.0:
                self._warned_at = time.monotonic()
                log.warning("rate-limit counters unavailable", extra={"error": str(exc)})
            return False
        finally:
            window.pending = None
        # Hits beyond the limit still count (they are demand); the grant never exceeds it.
        window.tokens += max(0, min(want, self.limit - (total - want)))
        window.low = want // 2
        window.counted = min(self.limit, total)
        window.exhausted = total >= self.limit
        return True

    def _decision(self, allowed: bool, window: _Window) -> Decision:
        remaining = max(0, self.limit - window.counted + window.tokens) if allowed else 0
        return Decision(
            allowed, self.limit, remaining, self.window_ms, window.start + self.window_ms
        )


def strict_bucket(scope: Scope, actor: Actor) -> tuple[str, int] | None:
    """The strict limit a request falls under: (bucket, limit per hour), or None."""
    if scope.get("method") != "POST":
        return None
    path = scope.get("path", "")
    if _INSTITUTIONS.match(path):
        return f"institutions:create:{actor.key_id}", INSTITUTION_CREATIONS_PER_HOUR
    found = _API_KEYS.match(path)
    if found is None:
        return None
    try:
        institution = UUID(found.group(1))
    except ValueError:
        return None  # the route answers 4xx; nothing to count
    # Another institution's admin is refused (403) by the route: it must not spend this budget.
    if not access.may_act_for(actor, institution):
        return None
    return f"api-keys:create:{institution}", API_KEY_CREATIONS_PER_HOUR


class RateLimitMiddleware:
    """Runs after authentication: scope['state']['actor'] is set for keyed requests."""

    def __init__(self, app: ASGIApp, settings: Settings, pool: AsyncConnectionPool) -> None:
        self.app = app
        self.settings = settings
        self.pool = pool
        config = settings.rate_limit
        self._enabled = config.enabled
        self._counters = Counters(pool)
        self._keys = KeyLimiter(
            self._counters, config.max_requests, config.window_ms, settings.workers
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        actor = scope.get("state", {}).get("actor") if self._enabled else None
        if scope["type"] != "http" or not isinstance(actor, Actor):
            await self.app(scope, receive, send)  # no key, no limit: auth has answered those
            return
        now_ms = int(time.time() * 1000)
        decision = await self._keys.check(f"key:{actor.key_id}", now_ms)
        if not decision.allowed:
            await _too_many(send, decision, now_ms)
            return
        strict = strict_bucket(scope, actor)
        if strict is not None:
            bucket, limit = strict
            start = now_ms - now_ms % HOUR_MS
            try:
                total = await self._counters.take(STRICT_TABLE, bucket, start, HOUR_MS, 1)
            except Exception as exc:
                log.error("strict rate-limit counter unavailable", extra={"error": str(exc)})
                await send_unavailable(send)
                return
            if total > limit:
                refused = Decision(False, limit, 0, HOUR_MS, start + HOUR_MS)
                await _too_many(send, refused, now_ms)
                return
        extra = _limit_headers(decision)

        async def send_with_limits(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_limits)


def _limit_headers(decision: Decision) -> list[tuple[bytes, bytes]]:
    return [
        (b"x-ratelimit-limit", str(decision.limit).encode()),
        (b"x-ratelimit-remaining", str(decision.remaining).encode()),
    ]


async def _too_many(send: Send, decision: Decision, now_ms: int) -> None:
    retry = max(1, math.ceil((decision.reset_ms - now_ms) / 1000))
    body = {
        "error": "Rate limit exceeded",
        "limit": decision.limit,
        "windowMs": decision.window_ms,
        "retryAfterSeconds": retry,
    }
    headers = [(b"retry-after", str(retry).encode()), *_limit_headers(decision)]
    await _answer(send, 429, body, headers)


async def _answer(
    send: Send, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]]
) -> None:
    encoded = _encoder.encode(body)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(encoded)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": encoded})
