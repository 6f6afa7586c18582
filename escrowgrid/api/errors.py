"""Every error leaves as the contract's JSON shape; a 5xx is logged with its request id."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

log = logging.getLogger("escrowgrid.errors")

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
    return Response(error_body(message, exc.extra or None), status_code=status, headers=headers)


def _validation_details(exc: ValidationException) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    extra = exc.extra if isinstance(exc.extra, list) else []
    for item in extra:
        if isinstance(item, dict):
            key = str(item.get("key") or item.get("source") or "body")
            out.append({"field": key, "message": str(item.get("message", "is invalid"))})
    if not out:
        out.append({"field": "body", "message": str(exc.detail or "is invalid")})
    return out


def internal_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.error(
        "unhandled error",
        exc_info=exc,
        extra={"requestId": _request_id(request), "path": request.url.path},
    )
    return Response(error_body("Internal server error"), status_code=HTTP_500_INTERNAL_SERVER_ERROR)
