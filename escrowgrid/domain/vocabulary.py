"""Closed vocabularies of the contract (regions, verticals, roles, states) and their parsers."""

from enum import StrEnum
from typing import TypeVar

from escrowgrid.domain.errors import ValidationError


class Region(StrEnum):
    """Jurisdictions an institution operates in."""

    US = "US"
    EU_UK = "EU_UK"
    SG = "SG"
    UAE = "UAE"


class Vertical(StrEnum):
    """Business lines served by asset templates."""

    CONSTRUCTION = "CONSTRUCTION"
    TRADE_FINANCE = "TRADE_FINANCE"


class ApiKeyRole(StrEnum):
    """What an institution API key may do."""

    ADMIN = "admin"
    READ_ONLY = "read_only"


class PositionState(StrEnum):
    """States of the position lifecycle."""

    CREATED = "CREATED"
    FUNDED = "FUNDED"
    PARTIALLY_RELEASED = "PARTIALLY_RELEASED"
    RELEASED = "RELEASED"
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"


E = TypeVar("E", bound=StrEnum)


def _parse_member(enum: type[E], value: object, field: str) -> E:
    if not isinstance(value, str):
        raise ValidationError.single(field, "must be a string")
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(member.value for member in enum)
        raise ValidationError.single(field, f"must be one of: {allowed}") from None


def parse_region(value: object, field: str) -> Region:
    """Parse an exact region code such as "EU_UK"."""
    return _parse_member(Region, value, field)


def parse_vertical(value: object, field: str) -> Vertical:
    """Parse an exact vertical code such as "CONSTRUCTION"."""
    return _parse_member(Vertical, value, field)


def parse_api_key_role(value: object, field: str) -> ApiKeyRole:
    """Parse "admin" or "read_only"."""
    return _parse_member(ApiKeyRole, value, field)


def parse_position_state(value: object, field: str) -> PositionState:
    """Parse an exact lifecycle state name such as "FUNDED"."""
    return _parse_member(PositionState, value, field)
