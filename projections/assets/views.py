"""Answer shapes of read model `assets`: the contract's JSON objects (camelCase)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec


class AssetView(msgspec.Struct, rename="camel", frozen=True):
    id: UUID
    institution_id: UUID
    template_id: UUID
    label: str
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime
