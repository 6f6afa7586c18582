"""Who is calling: the root key (constant-time, optional IP allow-list) or an institution key."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from escrowgrid.api.request_context import ASGIApp, Receive, Scope, Send
from escrowgrid.application import access
from escrowgrid.application.context import ROOT, Actor, ActorRole
from escrowgrid.config import Settings

# Looks an institution key up by the SHA-256 of its token: (key id, institution id, role) or None.
KeyLookup = Callable[[str], Awaitable[tuple[str, Any, str] | None]]
# Records a failed authentication (never the presented token).
FailureRecorder = Callable[[dict[str, Any]], None]

OPEN_PATHS = frozenset({"/health", "/ready"})
DOCS_PAGES = frozenset({"/openapi.json", "/docs"})
DOCS_ASSETS = "/docs/"
_encoder = msgspec.json.Encoder()


def presented_token(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The key from X-API-KEY, else from `Authorization: Bearer`."""
    bearer = None
    for name, value in headers:
        if name == b"x-api-key":
            token = value.decode("latin-1").strip()
            if token:
                return token
        elif name == b"authorization":
            scheme, _, rest = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and rest.strip():
                bearer = rest.strip()
    return bearer


class Authenticator:
    """Decides the Actor for a token and a client address, or the error to answer."""

    def __init__(self, settings: Settings, lookup: KeyLookup) -> None:
        root = settings.root_api_key or ""
        self._root = root.encode()
        self._root_networks = [
            ipaddress.ip_network(item, strict=False) for item in settings.root_api_key_allowed_ips
        ]
        self._lookup = lookup

    async def authenticate(self, token: str, client: str | None) -> tuple[Actor | None, int, str]:
        if self._root and hmac.compare_digest(token.encode(), self._root):
            if self._root_networks and not self._root_allowed(client):
                return None, 403, "Root API key is not allowed from this address"
            return ROOT, 200, ""
        found = await self._lookup(hashlib.sha256(token.encode()).hexdigest())
        if found is None:
            return None, 401, "Invalid API key"
        key_id, institution_id, role = found
        return Actor(key_id=key_id, role=ActorRole(role), institution_id=institution_id), 200, ""

    def _root_allowed(self, client: str | None) -> bool:
        if client is None:
            return False
        try:
            address = ipaddress.ip_address(client)
        except ValueError:
            return False
        return any(address in network for network in self._root_networks)


class AuthMiddleware:
    """Sets scope['state']['actor'] or answers 401/403 before any route runs."""

    def __init__(
        self,
        app: ASGIApp,
        authenticator: Authenticator,
        record_failure: FailureRecorder,
        public_docs: bool,
    ) -> None:
        self.app = app
        self._auth = authenticator
        self._record_failure = record_failure
        self._public_docs = public_docs

    def _is_open(self, scope: Scope) -> bool:
        path = scope.get("path", "")
        if path in OPEN_PATHS or scope.get("method") == "OPTIONS":
            return True
        return self._public_docs and (path in DOCS_PAGES or path.startswith(DOCS_ASSETS))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._is_open(scope):
            await self.app(scope, receive, send)
            return
        state: dict[str, Any] = scope.setdefault("state", {})
        client = scope.get("client")
        address = client[0] if client else None
        token = presented_token(list(scope.get("headers", [])))
        if token is None:
            await self._refuse(scope, send, 401, "Missing API key", address, "missing")
            return
        actor, status, message = await self._auth.authenticate(token, address)
        if actor is None:
            reason = "root_address" if status == 403 else "invalid"
            await self._refuse(scope, send, status, message, address, reason)
            return
        state["actor"] = actor
        state["api_key_id"] = actor.key_id
        state["institution_id"] = (
            None if actor.institution_id is None else str(actor.institution_id)
        )
        # Here, not in a route guard: before rate limiting (a refused write spends no budget)
        # and before routing (a read-only key's write anywhere is 403).
        if not access.may_write(actor, scope.get("method", "")):
            await _answer(send, 403, access.READ_ONLY)
            return
        await self.app(scope, receive, send)

    async def _refuse(
        self, scope: Scope, send: Send, status: int, message: str, address: str | None, reason: str
    ) -> None:
        self._record_failure(
            {
                "reason": reason,
                "method": scope.get("method"),
                "path": scope.get("path"),
                "clientAddr": address,
                "requestId": scope.get("state", {}).get("request_id"),
            }
        )
        await _answer(send, status, message)


async def _answer(send: Send, status: int, message: str) -> None:
    body = _encoder.encode({"error": message})
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
