"""Request bodies as msgspec Structs: shapes for decoding and for the OpenAPI document.

Types are kept loose where the domain gives the better message (it names the field and says
what is accepted); msgspec only guarantees the JSON shape. Ids are strings: they are opaque to
clients, and one of any shape that names nothing is a 404 (escrowgrid/api/scoping.py).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec

# Free-form values (metadata, config, limits) arrive with Decimal for fractional numbers:
# escrowgrid/api/exact_request.py decodes every body that way.


class InstitutionBody(msgspec.Struct, forbid_unknown_fields=False):
    name: str
    regions: list[str]
    verticals: list[str] | None = None


class ApiKeyBody(msgspec.Struct):
    label: str
    role: str


class PolicyBody(msgspec.Struct):
    position: dict[str, Any]


class AssetTemplateBody(msgspec.Struct, rename="camel"):
    code: str
    name: str
    vertical: str
    region: str
    institution_id: str | None = None
    config: dict[str, Any] | None = None


class AssetBody(msgspec.Struct, rename="camel"):
    template_id: str
    label: str
    institution_id: str | None = None
    metadata: dict[str, Any] | None = None


class PositionBody(msgspec.Struct, rename="camel"):
    asset_id: str
    holder_reference: str
    currency: str
    amount: Decimal
    institution_id: str | None = None
    external_reference: str | None = None


class TransitionBody(msgspec.Struct, rename="camel"):
    to_state: str
    reason: str | None = None
    metadata: dict[str, Any] | None = None
    amount: Decimal | None = None
