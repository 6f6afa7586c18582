"""Bodies over the limit are refused with 413 after being read and discarded.

Answering before the client has finished sending makes many clients see a reset connection
instead of the 413; reading (and dropping) the rest first lets them read the answer. Past
DRAIN_LIMIT the connection is simply answered and closed.
"""

from __future__ import annotations

import msgspec

from escrowgrid.api.request_context import ASGIApp, Receive, Scope, Send
from escrowgrid.api.request_limits import refuse

DRAIN_LIMIT = 16 * 1024 * 1024
_BODY = msgspec.json.encode({"error": "Request body too large"})


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = _content_length(scope)
        if length is None or length <= self.max_bytes:
            await self.app(scope, receive, send)
            return
        if length <= DRAIN_LIMIT:
            received = 0
            while True:
                message = await receive()
                received += len(message.get("body", b""))
                if not message.get("more_body") or received > DRAIN_LIMIT:
                    break
        await refuse(send, 413, _BODY)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
