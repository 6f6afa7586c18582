"""The shapes queries return: the contract's JSON objects as msgspec Structs (camelCase)."""

# Money is Money, a Decimal that answers render as a canonical decimal string ("12.5", not
# 12.50000000): amounts reach 10^15 with 8 places, more digits than a JSON reader's double
# holds. Free-form client data (metadata, config) keeps plain Decimal, rendered as a JSON
# number, as the client sent it. Timestamps are UTC datetimes, aggregate ids are UUID. Ids the
# domain keeps as strings (API keys, lifecycle entries) stay strings. Fields marked "extra" are
# additions to the contract's shapes.

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Generic, Literal, TypeVar
from uuid import UUID

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


class InstitutionView(msgspec.Struct, rename="camel", frozen=True):
    id: UUID
    name: str
    regions: list[RegionCode]
    verticals: list[VerticalCode]
    created_at: datetime
    updated_at: datetime


class ApiKeyAuth(msgspec.Struct, rename="camel", frozen=True):
    """What authentication needs from a key found by its hash (revoked keys included)."""

    id: str
    institution_id: UUID
    role: RoleCode
    revoked_at: datetime | None


class ApiKeyView(msgspec.Struct, rename="camel", frozen=True, kw_only=True, omit_defaults=True):
    id: str
    institution_id: UUID
    label: str
    role: RoleCode
    created_at: datetime
    revoked_at: datetime | None = None


class PositionLimits(msgspec.Struct, rename="camel", frozen=True, kw_only=True, omit_defaults=True):
    min_amount: Money | None = None
    max_amount: Money | None = None
    allowed_currencies: list[str] | None = None


class PolicyConfig(msgspec.Struct, rename="camel", frozen=True):
    region: RegionCode
    position: PositionLimits


class PolicyView(msgspec.Struct, rename="camel", frozen=True):
    id: UUID
    institution_id: UUID
    region: RegionCode
    config: PolicyConfig
    created_at: datetime
    updated_at: datetime


class AssetTemplateView(msgspec.Struct, rename="camel", frozen=True):
    id: UUID
    institution_id: UUID
    code: str
    name: str
    vertical: VerticalCode
    region: RegionCode
    config: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class AssetView(msgspec.Struct, rename="camel", frozen=True):
    id: UUID
    institution_id: UUID
    template_id: UUID
    label: str
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class LifecycleEvent(msgspec.Struct, rename="camel", frozen=True, kw_only=True, omit_defaults=True):
    """One accepted transition of a position; the creation is not one."""

    id: str
    position_id: UUID
    from_state: StateCode  # the state the transition left
    to_state: StateCode
    reason: str | None = None
    at: datetime
    metadata: dict[str, Any] | None = None
    amount: Money | None = None  # extra: money released by this step


class PositionView(msgspec.Struct, rename="camel", frozen=True, kw_only=True, omit_defaults=True):
    id: UUID
    institution_id: UUID
    asset_id: UUID
    holder_reference: str
    currency: str
    amount: Money
    state: StateCode
    external_reference: str | None = None
    created_at: datetime
    updated_at: datetime
    events: list[LifecycleEvent]
    template_id: UUID  # extra
    released_amount: Money  # extra
    remaining_amount: Money  # extra


class LedgerEventView(
    msgspec.Struct, rename="camel", frozen=True, kw_only=True, omit_defaults=True
):
    id: str
    kind: Literal["POSITION_CREATED", "POSITION_STATE_CHANGED"]
    position_id: UUID
    at: datetime
    previous_state: StateCode | None = None
    new_state: StateCode | None = None
    payload: dict[str, Any] | None = None
    institution_id: UUID  # extra
    log_position: int  # extra: the event's position in the log


class RefusalError(msgspec.Struct, frozen=True, omit_defaults=True):
    """Why a command was refused: a stable code, the answer's message and field details."""

    code: str
    message: str
    details: list[dict[str, str]] | None = None


class AuditEventView(msgspec.Struct, rename="camel", frozen=True):
    """One command: who, what, when, from where; where it landed in the log, or why not.

    `outcome` is `accepted` (from the log) or `refused` (a 4xx answered to a known key,
    which wrote nothing to the log: no positions, no streams, `status` and `error` instead).
    """

    id: int | None  # accepted: the log position of the command's first event
    position: int | None  # accepted: the log position of its last event (what a reader waits for)
    action: str | None
    actor_key_id: str | None
    actor_role: str | None
    institution_id: UUID | None
    request_id: str | None
    client_addr: str | None
    at: datetime
    stream_ids: list[UUID]
    event_count: int
    command_id: str | None = None  # extra: the command layer's id of the command
    outcome: str = "accepted"  # accepted | refused
    refusal_id: int | None = None  # refused: the refusal's own id
    method: str | None = None  # refused: the request's method and route template
    route: str | None = None
    status: int | None = None  # refused: the answer's status
    error: RefusalError | None = None
