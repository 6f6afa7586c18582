"""CORS policy and the security headers every answer carries."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Litestar
from litestar.config.cors import CORSConfig

from escrowgrid.api.request_context import ASGIApp, Message, Receive, Scope, Send
from escrowgrid.config import Settings

ALLOWED_HEADERS = ["content-type", "x-api-key", "authorization", "idempotency-key", "x-request-id"]
ALLOWED_METHODS = ["GET", "POST", "PUT", "OPTIONS"]
# Outside production, with CORS_ALLOWED_ORIGINS unset: a console served from this machine.
LOCAL_ORIGINS = r"http://(localhost|127\.0\.0\.1)(:[0-9]{1,5})?"

JSON_CSP = b"default-src 'none'; frame-ancestors 'none'"
# The explorer at /docs: its own scripts and styles only. Swagger UI sets inline style
# attributes and uses data: images in its CSS; scripts stay 'self' (no inline script at all).
DOCS_CSP = (
    b"default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    b"img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
    b"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
HSTS = b"max-age=31536000; includeSubDomains"
_ALWAYS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-resource-policy", b"same-origin"),
)
_encoder = msgspec.json.Encoder()


def cors_config(settings: Settings) -> CORSConfig | None:
    """CORS_ALLOWED_ORIGINS when set; unset: nothing in production, localhost otherwise."""
    origins = settings.cors_allowed_origins
    if origins is None and settings.production:
        return None
    return CORSConfig(
        allow_origins=list(origins or ()),
        allow_origin_regex=LOCAL_ORIGINS if origins is None else None,
        allow_methods=list(ALLOWED_METHODS),  # type: ignore[arg-type]
        allow_headers=list(ALLOWED_HEADERS),
        expose_headers=["x-request-id"],
        allow_credentials=False,
        max_age=600,
    )


def _find_litestar(app: Any) -> Litestar | None:
    for _ in range(16):
        if isinstance(app, Litestar) or app is None:
            return app
        app = getattr(app, "app", None)
    return None


class SecurityHeadersMiddleware:
    """Adds the security headers to every HTTP answer, keeping any a handler set itself."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self._hsts = settings.production
        # Litestar's CORSMiddleware answers preflights with scope["litestar_app"], which only
        # Litestar itself sets, further in; wrapped outside it, the middleware needs it earlier.
        self._litestar = _find_litestar(app)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._litestar is not None:
            scope.setdefault("litestar_app", self._litestar)
        preflight = scope.get("method") == "OPTIONS"
        held: Message | None = None

        async def send_with_headers(message: Message) -> None:
            nonlocal held
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if preflight and message["status"] == 400 and _is_text(headers):
                    held = message  # a refused CORS preflight: its text answer becomes JSON
                    return
                message["headers"] = self._secured(headers)
            elif held is not None:
                detail = bytes(message.get("body", b"")).decode("utf-8", "replace")
                body = _encoder.encode({"error": "CORS preflight refused", "details": detail})
                headers = [(b"content-type", b"application/json")]
                headers.append((b"content-length", str(len(body)).encode()))
                held["headers"] = self._secured(headers)
                await send(held)
                message = {"type": "http.response.body", "body": body}
                held = None
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _secured(self, headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
        present = {name.lower(): value for name, value in headers}
        content_type = present.get(b"content-type", b"").lower()
        extra = [pair for pair in _ALWAYS if pair[0] not in present]
        if b"content-security-policy" not in present:
            csp = DOCS_CSP if content_type.startswith(b"text/html") else JSON_CSP
            extra.append((b"content-security-policy", csp))
        # Static docs assets set their own (cacheable); API answers must never be cached.
        if b"cache-control" not in present:
            extra.append((b"cache-control", b"no-store"))
        if self._hsts:
            extra.append((b"strict-transport-security", HSTS))
        return headers + extra


def _is_text(headers: list[tuple[bytes, bytes]]) -> bool:
    return any(
        name.lower() == b"content-type" and value.startswith(b"text/plain")
        for name, value in headers
    )
