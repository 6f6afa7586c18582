"""A query that failed on the replica's connection runs once more, on the primary.

The replica can die (or a connection of its pool be cut) under a query before the monitor
notices; a GET changes nothing, so it is run again on the primary instead of answering 500.
"""

from __future__ import annotations

from typing import Any

from escrowgrid.api.request_context import ASGIApp, Message, Receive, Scope, Send

# Set in scope["state"] by the `conn` dependency (api/dependencies.py).
REPLICA_FAILED = "replica_failed"  # a query on a replica connection raised a connection error
PRIMARY_ONLY = "primary_only"  # the pool for this request's second run: the primary's


class ReplicaRetryMiddleware:
    """Holds back the 500 of a GET whose replica connection failed and answers from the primary."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        state: dict[str, Any] = scope.setdefault("state", {})
        held = False

        async def send_unless_failed(message: Message) -> None:
            nonlocal held
            if message["type"] == "http.response.start" and state.get(REPLICA_FAILED):
                held = True
            if not held:
                await send(message)

        await self.app(scope, receive, send_unless_failed)
        if not held:
            return
        state[REPLICA_FAILED] = False  # PRIMARY_ONLY, set with it, holds the primary's pool
        await self.app(scope, _empty_body(receive), send)


def _empty_body(receive: Receive) -> Receive:
    """The request again for a second run: its (GET) body was read by the first."""
    sent = False

    async def again() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": b"", "more_body": False}
        return await receive()  # a disconnect, if the client goes

    return again
