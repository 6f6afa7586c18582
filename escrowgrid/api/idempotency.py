"""What an Idempotency-Key is bound to: the method, the path and the parsed command.

The command is compared as data, not as bytes: key order, spacing, `10` / `10.0` / `"10"` for
an amount, and unknown fields the body type ignores all leave it the same command.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec
from litestar import Request

# Money fields whose decimal strings mean the same as the numbers. Inside free-form documents
# (metadata, config) a string stays a string: there "10" and 10 are stored differently.
AMOUNT_KEYS = frozenset({"amount", "minAmount", "maxAmount"})
FREE_FORM = frozenset({"metadata", "config"})
_encoder = msgspec.json.Encoder(decimal_format="number", order="sorted")


async def request_hash(request: Request[Any, Any, Any]) -> bytes:
    """SHA-256 over method, path and the canonical JSON of the route's parsed body."""
    digest = hashlib.sha256()
    for part in (request.method.encode(), request.url.path.encode(), await canonical_body(request)):
        digest.update(len(part).to_bytes(8, "big") + part)
    return digest.digest()


async def canonical_body(request: Request[Any, Any, Any]) -> bytes:
    """The body as its route's type reads it, with keys sorted and numbers normalised."""
    if not await request.body():
        return b""
    decoded = await request.json()
    body_type = _body_type(request)
    if body_type is not None:
        try:
            parsed = msgspec.convert(decoded, body_type, str_keys=True)
        except msgspec.ValidationError:
            pass  # the route refuses it anyway; hash what was sent
        else:
            decoded = msgspec.to_builtins(parsed, builtin_types=(Decimal,))
    return _encoder.encode(_canonical(decoded, free=False))


def _body_type(request: Request[Any, Any, Any]) -> Any:
    handler = request.scope.get("route_handler")
    field = None if handler is None else handler.parsed_fn_signature.parameters.get("data")
    return None if field is None else field.annotation


def _canonical(value: Any, *, free: bool) -> Any:
    if isinstance(value, dict):
        return {
            key: _canonical_field(key, item, free=free or key in FREE_FORM)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_canonical(item, free=free) for item in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | Decimal):
        return _number(Decimal(value))
    return value


def _canonical_field(key: str, value: Any, *, free: bool) -> Any:
    if not free and key in AMOUNT_KEYS and isinstance(value, str):
        try:
            return _number(Decimal(value.strip()))
        except InvalidOperation:
            return value
    return _canonical(value, free=free)


def _number(value: Decimal) -> Decimal | str:
    if not value.is_finite():
        return str(value)  # refused by the domain; never encoded as a JSON number
    return Decimal(format(value.normalize(), "f"))
