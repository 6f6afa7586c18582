"""Answer shapes of read model `policies`: the contract's JSON objects (camelCase)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import msgspec

from projections.framework.shapes import Money, RegionCode


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
