"""Types every answer shape shares: Money, the vocabulary codes, and a page of a list."""

# Money is Money, a Decimal that answers render as a canonical decimal string ("12.5", not
# 12.50000000): amounts reach 10^15 with 8 places, more digits than a JSON reader's double
# holds. Free-form client data (metadata, config) keeps plain Decimal, rendered as a JSON
# number, as the client sent it. Timestamps are UTC datetimes, aggregate ids are UUID. Ids the
# domain keeps as strings (API keys, lifecycle entries) stay strings. Fields marked "extra" are
# additions to the contract's shapes.

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Generic, TypeVar

import msgspec

from escrowgrid.domain.vocabulary import ApiKeyRole, PositionState, Region, Vertical

T = TypeVar("T")


class Money(Decimal):
    """An amount in an answer: escrowgrid.api.answers encodes it as its canonical string."""

    __slots__ = ()


def money(value: Decimal | None) -> Money | None:
    """An optional amount as Money."""
    return None if value is None else Money(value)


# Strings of a closed vocabulary. The enum in `Annotated` is for the OpenAPI document
# (escrowgrid/api/field_schemas.py); msgspec ignores it.
RegionCode = Annotated[str, Region]
VerticalCode = Annotated[str, Vertical]
RoleCode = Annotated[str, ApiKeyRole]
StateCode = Annotated[str, PositionState]


class Pagination(msgspec.Struct, rename="camel", frozen=True):
    total: int
    limit: int
    offset: int
    has_more: bool


class Page(msgspec.Struct, Generic[T], rename="camel", frozen=True):
    """`{"data": [...], "pagination": {...}}`."""

    data: list[T]
    pagination: Pagination
