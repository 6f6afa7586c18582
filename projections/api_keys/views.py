"""Answer shapes of read model `api_keys`: the contract's JSON objects (camelCase)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import msgspec

from projections.framework.shapes import RoleCode


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
