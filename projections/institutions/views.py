"""Answer shapes of read model `institutions`: the contract's JSON objects (camelCase)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import msgspec

from projections.framework.shapes import RegionCode, VerticalCode


class InstitutionView(msgspec.Struct, rename="camel", frozen=True):
    id: UUID
    name: str
    regions: list[RegionCode]
    verticals: list[VerticalCode]
    created_at: datetime
    updated_at: datetime
