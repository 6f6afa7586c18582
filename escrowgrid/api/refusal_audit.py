"""Refused commands for the audit trail: who tried which write, and why it was refused.

A refusal appends nothing to the event log; it is written to `command_refusals` in batches,
after the answer and outside any command's transaction. Refusals without a valid key (401,
and root from a refused address) are authentication failures and go to `auth_failures`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import msgspec
from litestar import Litestar
from litestar.utils.path import normalize_path
from psycopg_pool import AsyncConnectionPool

from escrowgrid.api.batched_log import BatchedLog
from escrowgrid.api.request_context import ASGIApp, Message, Receive, Scope, Send
from escrowgrid.application.context import Actor

COMMAND_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# 429 is throttling, not a decision about the command: a flood must not fill the audit trail.
NOT_REFUSALS = frozenset({401, 429})
MAX_ERROR_BYTES = 64 * 1024  # our error bodies are small; anything longer is kept as text

# The command each write route runs, by operation id, in the audit trail's action names
# (the names the handlers in escrowgrid/application/ give the accepted commands).
ACTIONS = {
    "createInstitution": "institution.register",
    "createApiKey": "api_key.issue",
    "revokeApiKey": "api_key.revoke",
    "upsertPolicy": "policy.set",
    "createAssetTemplate": "asset_template.define",
    "createAsset": "asset.register",
    "createPosition": "position.open",
    "transitionPosition": "position.move",
}
_CODES = {
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "idempotency_key_reused",
}
_COLUMNS = (
    ("at", "at", "timestamptz"),
    ("actor_key_id", "actorKeyId", "text"),
    ("actor_role", "actorRole", "text"),
    ("institution_id", "institutionId", "uuid"),
    ("action", "action", "text"),
    ("route", "route", "text"),
    ("method", "method", "text"),
    ("path", "path", "text"),
    ("status", "status", "smallint"),
    ("error_code", "errorCode", "text"),
    ("error", "error", "text"),
    ("details", "details", "jsonb"),
    ("request_id", "requestId", "text"),
    ("client_addr", "clientAddr", "text"),
)
_decode = msgspec.json.Decoder()
_encode = msgspec.json.Encoder()


class RefusalLog(BatchedLog):
    """Writes refused commands to `command_refusals` every `interval` seconds."""

    def __init__(self, pool: AsyncConnectionPool, interval: float = 0.5) -> None:
        super().__init__(pool, "command_refusals", _COLUMNS, interval)


def error_code(status: int, message: str) -> str:
    """A stable code for a refusal: the kind of answer, finer than the status where it can."""
    if status == 400:
        return "validation_failed" if message == "Validation failed" else "bad_request"
    return _CODES.get(status, "client_error")


class RefusalAuditMiddleware:
    """Around authentication: a write refused with 4xx to a known key becomes a refusal row."""

    def __init__(self, app: ASGIApp, routes: Litestar, log: RefusalLog) -> None:
        self.app = app
        self._routes = routes
        self._log = log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") not in COMMAND_METHODS:
            await self.app(scope, receive, send)
            return
        status = 0
        at = datetime.now(UTC)
        body = bytearray()

        async def watch(message: Message) -> None:
            nonlocal status, at
            if message["type"] == "http.response.start":
                status = int(message["status"])
                at = datetime.now(UTC)
            elif message["type"] == "http.response.body" and _refused(status):
                body.extend(message.get("body", b"")[: MAX_ERROR_BYTES - len(body)])
            await send(message)

        await self.app(scope, receive, watch)
        if _refused(status):
            actor = scope.get("state", {}).get("actor")
            if isinstance(actor, Actor):
                self._record(scope, actor, status, at, bytes(body))

    def _record(self, scope: Scope, actor: Actor, status: int, at: datetime, body: bytes) -> None:
        route = self._route(scope)
        if route is None:
            return  # no write route here (404/405 of the router): not a command
        handler, template, params = route
        message, details = _error(body)
        self._log.add(
            {
                "at": at,
                "actorKeyId": actor.key_id,
                "actorRole": actor.role.value,
                "institutionId": actor.institution_id or _path_institution(template, params),
                "action": ACTIONS.get(str(handler.operation_id)),
                "route": template,
                "method": scope.get("method"),
                "path": scope.get("path"),
                "status": status,
                "errorCode": error_code(status, message),
                "error": message,
                "details": details,
                "requestId": scope.get("state", {}).get("request_id"),
                "clientAddr": (scope.get("client") or (None,))[0],
            }
        )

    def _route(self, scope: Scope) -> tuple[Any, str, dict[str, Any]] | None:
        """The route that served the request, or would have (refused before routing)."""
        handler = scope.get("route_handler")
        if handler is not None:
            return handler, str(scope.get("path_template")), dict(scope.get("path_params") or {})
        try:
            _, handler, _, params, template = self._routes.asgi_router.handle_routing(
                path=normalize_path(scope.get("path", "")), method=scope.get("method")
            )
        except Exception:  # NotFound / MethodNotAllowed: no such route
            return None
        return handler, template, params


def _refused(status: int) -> bool:
    return 400 <= status < 500 and status not in NOT_REFUSALS


def _error(body: bytes) -> tuple[str, str | None]:
    """The answer's error message and its details (as JSON text), whatever the body holds."""
    try:
        decoded = _decode.decode(body)
    except msgspec.DecodeError:
        return body.decode("utf-8", "replace")[:1000] or "Refused", None
    if not isinstance(decoded, dict):
        return "Refused", None
    message = decoded.get("error")
    details = decoded.get("details")
    return (
        message if isinstance(message, str) and message else "Refused",
        None if details is None else _encode.encode(details).decode(),
    )


def _uuid(value: object) -> UUID | None:
    try:
        return UUID(str(value)) if value is not None else None
    except ValueError:
        return None


def _path_institution(template: str, params: dict[str, Any]) -> UUID | None:
    """The institution a root command named in its path (`/institutions/{id}/...`)."""
    return _uuid(params.get("id")) if template.startswith("/institutions/{id}") else None
