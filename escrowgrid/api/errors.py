"""Every error leaves as the contract's JSON shape; a 5xx is logged with its request id."""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi import ResponseSpec
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from escrowgrid.api.replica_retry import REPLICA_FAILED
from escrowgrid.api.unavailable import RETRY_AFTER
from escrowgrid.application.errors import CommandError, Forbidden, NotFound
from escrowgrid.domain.errors import (
    DomainError,
    FieldError,
    ForbiddenTransition,
    KeyNotFound,
    TenancyViolation,
    ValidationError,
)
from escrowgrid.eventlog.errors import (
    ConcurrencyConflict,
    EventLogError,
    IdempotencyMismatch,
    StoreUnavailable,
)

log = logging.getLogger("escrowgrid.errors")
# Every 503 says when to try again: the database may be back (or have space again) by then, and
# an idempotent retry is safe. Seconds, as the header takes them.

_GENERIC = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "Unprocessable entity",
    429: "Rate limit exceeded",
    503: "Service unavailable",
}


def error_body(message: str, details: Any = None) -> dict[str, Any]:
    """The contract's error object."""
    body: dict[str, Any] = {"error": message}
    if details is not None:
        body["details"] = details
    return body


def _request_id(request: Request[Any, Any, Any]) -> str | None:
    value = request.scope.get("state", {}).get("request_id")
    return value if isinstance(value, str) else None


def http_exception_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    if isinstance(exc, ValidationException):
        return Response(error_body("Validation failed", _validation_details(exc)), status_code=400)
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail else None
    generic = _GENERIC.get(status, "Error")
    # Litestar's own details are phrased for developers; keep ours, shorten the framework's.
    message = detail if detail and not detail.startswith(("Not Found", "Method Not")) else generic
    headers = dict(exc.headers or {})
    if status == 503:
        headers.setdefault(*RETRY_AFTER)
    # Ours name the field at fault the way validation errors do (e.g. the 415's content-type).
    details = _validation_details(exc) if isinstance(exc.extra, list) and exc.extra else None
    return Response(error_body(message, details), status_code=status, headers=headers)


def _validation_details(exc: HTTPException) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    extra = exc.extra if isinstance(exc.extra, list) else []
    for item in extra:
        if isinstance(item, dict):
            key = str(item.get("key") or item.get("source") or "body")
            message = str(item.get("message", "is invalid"))
            if message == f"'{key}'":  # how the framework reports a missing body or field
                message = "is required"
            out.append({"field": key, "message": message})
    if not out:
        out.append({"field": "body", "message": str(exc.detail or "is invalid")})
    return out


def internal_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if request.scope.get("state", {}).get(REPLICA_FAILED):
        # Held back by api/replica_retry.py, which answers from the primary instead.
        log.warning(
            "query failed on the replica; running it on the primary",
            extra={"requestId": _request_id(request), "error": str(exc).strip()[:200]},
        )
        return Response(error_body("Internal server error"), status_code=500)
    log.error(
        "unhandled error",
        exc_info=exc,
        extra={"requestId": _request_id(request), "path": request.url.path},
    )
    return Response(error_body("Internal server error"), status_code=HTTP_500_INTERNAL_SERVER_ERROR)


def unavailable() -> Response[Any]:
    """503: the outcome is unknown to the client, who may retry (with its Idempotency-Key)."""
    return Response(error_body("Service unavailable"), status_code=503, headers=dict([RETRY_AFTER]))


def database_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """The database went away under a route (connection cut, server down, pool timeout)."""
    log.warning(
        "database unavailable",
        extra={"requestId": _request_id(request), "path": request.url.path, "error": str(exc)},
    )
    return unavailable()


def _fields(details: list[FieldError]) -> list[dict[str, str]]:
    return [{"field": d.field, "message": d.message} for d in details]


def domain_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Domain, command and event-log refusals as the contract's status codes."""
    if isinstance(exc, ValidationError):
        return Response(error_body("Validation failed", _fields(exc.details)), status_code=400)
    if isinstance(exc, ForbiddenTransition):
        return Response(error_body(str(exc)), status_code=400)
    if isinstance(exc, TenancyViolation | Forbidden):
        return Response(error_body(str(exc) or "Forbidden"), status_code=403)
    if isinstance(exc, NotFound | KeyNotFound):
        return Response(error_body(str(exc) or "Not found"), status_code=404)
    if isinstance(exc, ConcurrencyConflict):
        return Response(
            error_body("Conflict: the position changed concurrently; reload and retry"),
            status_code=409,
        )
    if isinstance(exc, IdempotencyMismatch):
        return Response(error_body(str(exc)), status_code=422)
    if isinstance(exc, StoreUnavailable):
        log.error("store unavailable", extra={"requestId": _request_id(request), "error": str(exc)})
        return unavailable()
    if isinstance(exc, DomainError):
        return Response(error_body(str(exc)), status_code=400)
    return internal_error_handler(request, exc)


DOMAIN_ERRORS: tuple[type[Exception], ...] = (DomainError, CommandError, EventLogError)


class FieldProblem(msgspec.Struct):
    """One bad field of a request."""

    field: str
    message: str


class ErrorBody(msgspec.Struct, omit_defaults=True):
    """Every error answer: a short message, and for validation errors the fields at fault."""

    error: str
    details: list[FieldProblem] | None = None


def _spec(description: str) -> ResponseSpec:
    return ResponseSpec(data_container=ErrorBody, description=description)


# Documented on every route, so clients (and schemathesis) know each error's shape.
ERROR_RESPONSES: dict[int, ResponseSpec] = {
    400: _spec("Validation failed, a forbidden move, or a malformed request"),
    401: _spec("Missing API key, or an invalid or revoked one"),
    403: _spec("Another institution's resource, a read-only key, or root from a refused address"),
    404: _spec("Not found"),
    405: _spec("Method not allowed"),
    409: _spec("Conflict: the resource changed concurrently"),
    413: _spec("Request body over 1 MB"),
    415: _spec("A request body not declared as JSON (application/json or application/*+json)"),
    422: _spec("Idempotency-Key reused with a different request"),
    429: _spec("Rate limit exceeded (see Retry-After)"),
    503: _spec("The database is unavailable"),
}
