"""503 with Retry-After when the database is away, wherever the request was when it found out.

A request meets the database first in authentication (the key lookup) or rate limiting, outside
Litestar; an error there used to escape the app and the server answered a bare 500. Inside the
routes the same errors are mapped by `errors.py`. Either way the client learns the outcome is
unknown and when to retry (with its Idempotency-Key, a retry takes effect at most once).
"""

from __future__ import annotations

import asyncio
import logging

import msgspec
import psycopg
from psycopg_pool import AsyncConnectionPool

from escrowgrid.api.request_context import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("escrowgrid.errors")

RETRY_AFTER_SECONDS = 1
RETRY_AFTER = ("Retry-After", str(RETRY_AFTER_SECONDS))
# Connection refused or cut, the server shutting down or out of slots, a pool timeout.
DATABASE_AWAY: tuple[type[Exception], ...] = (psycopg.OperationalError,)
_body = msgspec.json.encode({"error": "Service unavailable"})


class StaleConnections:
    """After an outage is met, test every idle pooled connection at once (in the background): the
    pool does not test on checkout (a round trip each), so after a database restart each stale
    connection would otherwise fail one more request, long after the database is back."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool
        self._check: asyncio.Task[None] | None = None

    def suspect(self) -> None:
        if self._check is None or self._check.done():
            self._check = asyncio.get_running_loop().create_task(self._pool.check())
            self._check.add_done_callback(_quiet)


def _quiet(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("pool check failed", extra={"error": str(task.exception())})


class DatabaseUnavailableMiddleware:
    """Answers 503 + Retry-After for a database outage raised before the answer started, and has
    the pool's idle connections tested after any 503."""

    def __init__(self, app: ASGIApp, stale: StaleConnections) -> None:
        self.app = app
        self.stale = stale

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if message["status"] == 503:
                    self.stale.suspect()
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except DATABASE_AWAY as exc:
            if started:
                raise
            log.warning(
                "database unavailable",
                extra={
                    "requestId": scope.get("state", {}).get("request_id"),
                    "path": scope.get("path"),
                    "error": str(exc).strip().splitlines()[0] if str(exc).strip() else "",
                },
            )
            self.stale.suspect()
            await send_unavailable(send)


async def send_unavailable(send: Send) -> None:
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(_body)).encode()),
        (RETRY_AFTER[0].lower().encode(), RETRY_AFTER[1].encode()),
    ]
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": _body})
