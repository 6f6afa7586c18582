"""503 with Retry-After when the database is away, wherever the request was when it found out.

A request meets the database first in authentication (the key lookup) or rate limiting, outside
Litestar; an error there used to escape the app and the server answered a bare 500. Inside the
routes the same errors are mapped by `errors.py`. Either way the client learns the outcome is
unknown and when to retry (with its Idempotency-Key, a retry takes effect at most once).
"""

from __future__ import annotations

import logging

import msgspec
import psycopg

from escrowgrid.api.request_context import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("escrowgrid.errors")

RETRY_AFTER_SECONDS = 1
RETRY_AFTER = ("Retry-After", str(RETRY_AFTER_SECONDS))
# Connection refused or cut, the server shutting down or out of slots, a pool timeout.
DATABASE_AWAY: tuple[type[Exception], ...] = (psycopg.OperationalError,)
_body = msgspec.json.encode({"error": "Service unavailable"})


class DatabaseUnavailableMiddleware:
    """Answers 503 + Retry-After for a database outage raised before the answer started (the
    pool tests its connections itself: `escrowgrid.database.open_pool`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
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
            await send_unavailable(send)


async def send_unavailable(send: Send) -> None:
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(_body)).encode()),
        (RETRY_AFTER[0].lower().encode(), RETRY_AFTER[1].encode()),
    ]
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": _body})
