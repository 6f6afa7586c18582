"""Only bodies declared as JSON become commands: anything else is 415 before it is read."""

# A browser sends a cross-origin `text/plain` (or form) POST without a CORS preflight; taking
# such a body as JSON would let any web page write with a user's credentials.

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import HTTPException
from litestar.handlers.base import BaseRouteHandler

_ACCEPTED = "must be application/json or application/<type>+json"


def is_json(content_type: str | None) -> bool:
    """`application/json` or `application/<anything>+json`, parameters allowed."""
    if not content_type:
        return False
    kind, _, subtype = content_type.partition(";")[0].strip().lower().partition("/")
    return kind == "application" and (subtype == "json" or subtype.endswith("+json"))


async def require_json_body(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """Guard of each route that takes a body: one not declared as JSON is refused (415)."""
    # async on purpose: Litestar runs a sync guard in a worker thread, a hop per request. On
    # the body routes only, not app-wide: Litestar copies the handler for every guard it runs;
    # tests/unit/test_api_guards_inline.py keeps it on exactly the handlers with a `data` body.
    if not is_json(connection.headers.get("content-type")):
        raise HTTPException(
            status_code=415,
            detail="Unsupported media type",
            extra=[{"key": "content-type", "message": _ACCEPTED}],
        )
