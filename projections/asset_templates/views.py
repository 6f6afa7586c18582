"""Answer shapes of read model `asset_templates`: the contract's JSON objects (camelCase)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec

from projections.framework.shapes import RegionCode, VerticalCode


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
