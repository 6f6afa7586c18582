"""Request bodies as msgspec Structs: shapes for decoding and for the OpenAPI document.

Types are kept loose where the domain gives the better message (it names the field and says
what is accepted); msgspec only guarantees the JSON shape. Ids are strings: they are opaque to
clients, and one of any shape that names nothing is a 404 (escrowgrid/api/params.py).
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar.openapi.spec import OpenAPIType, Schema

from escrowgrid.api.field_schemas import AMOUNT_INPUT, Documented
from projections.framework.shapes import RegionCode, RoleCode, StateCode, VerticalCode

# Free-form values (metadata, config, limits) arrive with Decimal for fractional numbers:
# escrowgrid/api/exact_request.py decodes every body that way. `Annotated` metadata only
# documents (escrowgrid/api/field_schemas.py); the domain checks the values.

# Any, not Decimal: msgspec would turn any string it can read as a Decimal ("1e3", " 12",
# "1_000") into one, past the domain's plain-literal rule. The exact request decoder already
# gives Decimal for JSON numbers, so the domain sees a Decimal, an int or the string as sent.
Amount = Annotated[Any, AMOUNT_INPUT]
_LIMITS = Documented(
    Schema(
        type=OpenAPIType.OBJECT,
        properties={
            "minAmount": AMOUNT_INPUT.schema,
            "maxAmount": AMOUNT_INPUT.schema,
            "allowedCurrencies": Schema(
                type=OpenAPIType.ARRAY, items=Schema(type=OpenAPIType.STRING)
            ),
        },
        description="minAmount <= maxAmount; each one optional.",
    )
)


class InstitutionBody(msgspec.Struct, forbid_unknown_fields=False):
    name: str
    regions: list[RegionCode]
    verticals: list[VerticalCode] | None = None


class ApiKeyBody(msgspec.Struct):
    label: str
    role: RoleCode


class PolicyBody(msgspec.Struct):
    position: Annotated[dict[str, Any], _LIMITS]


class AssetTemplateBody(msgspec.Struct, rename="camel"):
    code: str
    name: str
    vertical: VerticalCode
    region: RegionCode
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
    amount: Amount
    institution_id: str | None = None
    external_reference: str | None = None


class TransitionBody(msgspec.Struct, rename="camel"):
    to_state: StateCode
    reason: str | None = None
    metadata: dict[str, Any] | None = None
    amount: Amount = None
