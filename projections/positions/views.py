"""Answer shapes of read model `positions`: the contract's JSON objects (camelCase)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec

from projections.framework.shapes import Money, StateCode


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
