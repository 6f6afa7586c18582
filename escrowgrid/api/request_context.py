"""Request id, access log line and duration for every HTTP request, as raw ASGI middleware."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

log = logging.getLogger("escrowgrid.access")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[..., Awaitable[None]]
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def pick_request_id(headers: list[tuple[bytes, bytes]]) -> str:
    """Echo a well-formed incoming X-Request-Id / X-Correlation-Id, else make a UUID."""
    found: dict[bytes, str] = {}
    for name, value in headers:
        if name in (b"x-request-id", b"x-correlation-id"):
            text = value.decode("latin-1")
            if _SAFE_ID.match(text):
                found.setdefault(name, text)
    return found.get(b"x-request-id") or found.get(b"x-correlation-id") or str(uuid.uuid4())


class RequestContextMiddleware:
    """Sets scope['state'] request id, echoes it, and logs one JSON line per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # lifespan and websockets pass through untouched
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = pick_request_id(list(scope.get("headers", [])))
        state: dict[str, Any] = scope.setdefault("state", {})
        state["request_id"] = request_id
        status = 500
        header = (b"x-request-id", request_id.encode())

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [h for h in message.get("headers", []) if h[0].lower() != b"x-request-id"]
                message["headers"] = [*headers, header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            log.info(
                "request",
                extra={
                    "type": "request",
                    "method": scope.get("method"),
                    "path": scope.get("path"),
                    "status": status,
                    "durationMs": round((time.perf_counter() - started) * 1000, 3),
                    "requestId": request_id,
                    "apiKeyId": state.get("api_key_id"),
                    "institutionId": state.get("institution_id"),
                },
            )
