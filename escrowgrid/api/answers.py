"""JSON answers: Decimal as exact JSON numbers, encoded once with msgspec."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Response

from escrowgrid.eventlog.records import StoredResponse

_encoder = msgspec.json.Encoder(decimal_format="number")
JSON = "application/json"


def encode(value: Any) -> bytes:
    return _encoder.encode(value)


def answer(value: Any, status: int = 200) -> Response[Any]:
    """A JSON response whose money keeps every digit (no binary float on the way out)."""
    return Response(content=_encoder.encode(value), status_code=status, media_type=JSON)


def stored(value: Any, status: int) -> StoredResponse:
    """The same answer as kept for an idempotency key."""
    return StoredResponse(status, _encoder.encode(value))


def replay(response: StoredResponse) -> Response[Any]:
    return Response(
        content=response.body,
        status_code=response.status,
        media_type=JSON,
        headers={"Idempotent-Replayed": "true"},
    )
