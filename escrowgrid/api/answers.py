"""JSON answers encoded once with msgspec: amounts as decimal strings, other Decimals as numbers."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Response

from escrowgrid.domain.money import format_amount
from escrowgrid.eventlog.records import StoredResponse
from projections.framework.shapes import Money


def _money_as_string(value: Any) -> Any:
    # msgspec hands over only what it cannot encode itself: Money, not its Decimal base.
    if isinstance(value, Money):
        return format_amount(value)
    raise NotImplementedError(f"cannot encode {type(value).__name__} as JSON")


# Money (every amount) leaves as a canonical decimal string, which every JSON reader keeps
# exactly; plain Decimals are client data (metadata, config) and stay the numbers it sent.
_encoder = msgspec.json.Encoder(decimal_format="number", enc_hook=_money_as_string)
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
