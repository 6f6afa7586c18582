"""OpenAPI schemas of fields whose Python type says less than the wire: amounts, vocabularies."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from litestar.openapi.spec import OpenAPIType, Schema
from litestar.plugins import OpenAPISchemaPlugin

from escrowgrid.domain.money import AMOUNT_PLACES, MAX_AMOUNT
from projections.framework.shapes import Money

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator
    from litestar.typing import FieldDefinition

# What answers send: format_amount's text, no exponent, no trailing zeros ("0", "12.5").
AMOUNT_PATTERN = r"^(0|[1-9][0-9]*)(\.[0-9]*[1-9])?$"
# What bodies accept as a string (escrowgrid.domain.money's plain decimal literal).
AMOUNT_INPUT_PATTERN = r"^[0-9]+(\.[0-9]+)?$"

_AMOUNT = Schema(
    type=OpenAPIType.STRING,
    pattern=AMOUNT_PATTERN,
    description="An exact decimal amount as a string: no exponent, no trailing zeros.",
    examples=["250000", "12.5"],
)


@dataclass(frozen=True)
class Documented:
    """`Annotated` metadata giving a field's OpenAPI schema; msgspec ignores it when decoding."""

    schema: Schema


AMOUNT_INPUT = Documented(
    Schema(
        one_of=[
            Schema(type=OpenAPIType.STRING, pattern=AMOUNT_INPUT_PATTERN, max_length=64),
            Schema(type=OpenAPIType.NUMBER, exclusive_minimum=0, maximum=int(MAX_AMOUNT)),
        ],
        description=(
            f"An amount > 0 and <= 10^15 with at most {AMOUNT_PLACES} decimal places, as a"
            ' decimal string ("1000.50", exact) or a JSON number.'
        ),
    )
)


class FieldSchemaPlugin(OpenAPISchemaPlugin):
    """Money as decimal strings, `Annotated[str, SomeStrEnum]` as an enum, `Documented` as given."""

    def is_plugin_supported_field(self, field_definition: FieldDefinition) -> bool:
        return field_definition.is_subclass_of(Money) or _declared(field_definition) is not None

    def to_openapi_schema(
        self, field_definition: FieldDefinition, schema_creator: SchemaCreator
    ) -> Schema:
        # A copy each time: the generator fills in defaults and examples on what it is given.
        return copy.deepcopy(_declared(field_definition) or _AMOUNT)


def _declared(field_definition: FieldDefinition) -> Schema | None:
    for meta in field_definition.metadata:
        if isinstance(meta, Documented):
            return meta.schema
        if isinstance(meta, type) and issubclass(meta, StrEnum):
            return Schema(type=OpenAPIType.STRING, enum=[m.value for m in meta])
    return None
