"""Request lines and headers over the service's limits: a JSON 414 or 431 from the app itself.

The limits sit below those of Granian's HTTP parser (see escrowgrid/serve.py run_http), so the
app, not the server's bodiless refusal, answers every request that the parser lets through."""

from __future__ import annotations

import msgspec

from escrowgrid.api.request_context import ASGIApp, Receive, Scope, Send

MAX_TARGET_BYTES = 8 * 1024  # path and query string; Granian's own hard limit is 65534
MAX_HEADERS = 64  # Granian's parser refuses more than 100 by itself
MAX_HEADER_BYTES = 32 * 1024  # every name and value; Granian's buffer (SERVER_HEAD_BYTES) is larger
SERVER_HEAD_BYTES = 1024 * 1024


def _refusal(status: int, error: str, field: str, message: str) -> tuple[int, bytes]:
    body = {"error": error, "details": [{"field": field, "message": message}]}
    return status, msgspec.json.encode(body)


_TARGET_TOO_LONG = _refusal(
    414, "URI too long", "url", f"path and query string are at most {MAX_TARGET_BYTES} bytes"
)
_TOO_MANY_HEADERS = _refusal(
    431, "Request header fields too large", "headers", f"at most {MAX_HEADERS} headers"
)
_HEADERS_TOO_LARGE = _refusal(
    431, "Request header fields too large", "headers", f"at most {MAX_HEADER_BYTES} bytes in all"
)


class RequestLimitsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        refusal = _check(scope) if scope["type"] == "http" else None
        if refusal is None:
            await self.app(scope, receive, send)
            return
        await refuse(send, *refusal)


async def refuse(send: Send, status: int, body: bytes) -> None:
    """Answer a request refused before the app (JSON body), closing the connection after it."""
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _check(scope: Scope) -> tuple[int, bytes] | None:
    path = scope.get("raw_path") or str(scope.get("path", "")).encode()
    query = scope.get("query_string", b"")
    if len(path) + (len(query) + 1 if query else 0) > MAX_TARGET_BYTES:
        return _TARGET_TOO_LONG
    headers = scope.get("headers", [])
    if len(headers) > MAX_HEADERS:
        return _TOO_MANY_HEADERS
    if sum(len(name) + len(value) + 4 for name, value in headers) > MAX_HEADER_BYTES:
        return _HEADERS_TOO_LARGE
    return None
