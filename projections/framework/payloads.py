"""Fast decoders for the domain events' stored payloads, one msgspec Struct per event class."""

# Why not the library's Mapper: it builds UUID, Decimal and datetime objects for every field and
# tops out near 50,000 events/s here; projections mostly pass values through to PostgreSQL, so
# these Structs keep the transcoder's tagged values as their text (`.data`); msgspec checks
# each tag (`uuid_hex`, `decimal_str`, `datetime_iso`) while decoding, in C. Each Struct
# mirrors one class in escrowgrid.domain; tests/unit/test_projections_payloads.py checks that
# they read exactly what the library's Mapper reads.

from __future__ import annotations

import re
from typing import Annotated, Any

import msgspec
from eventsourcing.utils import get_topic

from escrowgrid.domain.asset import Asset
from escrowgrid.domain.asset_template import AssetTemplate
from escrowgrid.domain.institution import Institution
from escrowgrid.domain.policy import Policy
from escrowgrid.domain.position import Position

# The newest class_version each Struct understands; a newer payload must stop the projector.
POSITION_CREATED_VERSION = 2


class PayloadError(ValueError):
    """A stored payload this read side cannot read (unknown version or unexpected value)."""


class UuidHex(msgspec.Struct, tag_field="_type_", tag="uuid_hex", frozen=True, gc=False):
    """A UUID as the transcoder tags it; `data` is 32 hex digits (PostgreSQL's uuid input)."""

    data: str = msgspec.field(name="_data_")


class DecimalStr(msgspec.Struct, tag_field="_type_", tag="decimal_str", frozen=True, gc=False):
    """A Decimal as the transcoder tags it; `data` is its exact text."""

    data: str = msgspec.field(name="_data_")


class DatetimeIso(msgspec.Struct, tag_field="_type_", tag="datetime_iso", frozen=True, gc=False):
    """A datetime as the transcoder tags it; `data` is ISO 8601 with its UTC offset."""

    data: str = msgspec.field(name="_data_")


class InstitutionRegistered(msgspec.Struct, frozen=True, gc=False):
    timestamp: DatetimeIso
    name: str
    regions: list[str]
    verticals: list[str]


class ApiKeyIssued(msgspec.Struct, frozen=True, gc=False):
    timestamp: DatetimeIso
    key_id: str
    label: str
    role: str
    key_hash: str


class ApiKeyRevoked(msgspec.Struct, frozen=True, gc=False):
    timestamp: DatetimeIso
    key_id: str


class TemplateDefined(msgspec.Struct, frozen=True, gc=False):
    timestamp: DatetimeIso
    institution_id: UuidHex
    code: str
    name: str
    vertical: str
    region: str
    config: msgspec.Raw


class AssetRegistered(msgspec.Struct, frozen=True, gc=False):
    timestamp: DatetimeIso
    institution_id: UuidHex
    template_id: UuidHex
    label: str
    metadata: msgspec.Raw


class PositionCreated(msgspec.Struct, frozen=True, gc=False):
    timestamp: DatetimeIso
    institution_id: UuidHex
    asset_id: UuidHex
    template_id: UuidHex
    holder_reference: str
    currency: str
    amount: DecimalStr
    entry_id: str
    external_reference: str | None = None  # v1 payloads had none (Position.Created.upcast_v1_v2)
    # A newer class_version may carry fields this Struct does not know: refuse, never guess.
    class_version: Annotated[int, msgspec.Meta(le=POSITION_CREATED_VERSION)] = 1


class PositionMoved(msgspec.Struct, frozen=True, gc=False):
    timestamp: DatetimeIso
    entry_id: str
    from_state: str
    to_state: str
    reason: str | None
    metadata: msgspec.Raw
    released: DecimalStr


class PolicySet(msgspec.Struct, frozen=True, gc=False):
    timestamp: DatetimeIso
    institution_id: UuidHex
    region: str
    min_amount: DecimalStr | None
    max_amount: DecimalStr | None
    allowed_currencies: list[str] | None


class PolicyUpdated(msgspec.Struct, frozen=True, gc=False):
    timestamp: DatetimeIso
    min_amount: DecimalStr | None
    max_amount: DecimalStr | None
    allowed_currencies: list[str] | None


INSTITUTION_REGISTERED = get_topic(Institution.Registered)
API_KEY_ISSUED = get_topic(Institution.ApiKeyIssued)
API_KEY_REVOKED = get_topic(Institution.ApiKeyRevoked)
TEMPLATE_DEFINED = get_topic(AssetTemplate.Defined)
ASSET_REGISTERED = get_topic(Asset.Registered)
POSITION_CREATED = get_topic(Position.Created)
POSITION_MOVED = get_topic(Position.Moved)
POLICY_SET = get_topic(Policy.Set)
POLICY_UPDATED = get_topic(Policy.Updated)

_DECODERS: dict[str, msgspec.json.Decoder[Any]] = {
    INSTITUTION_REGISTERED: msgspec.json.Decoder(InstitutionRegistered),
    API_KEY_ISSUED: msgspec.json.Decoder(ApiKeyIssued),
    API_KEY_REVOKED: msgspec.json.Decoder(ApiKeyRevoked),
    TEMPLATE_DEFINED: msgspec.json.Decoder(TemplateDefined),
    ASSET_REGISTERED: msgspec.json.Decoder(AssetRegistered),
    POSITION_CREATED: msgspec.json.Decoder(PositionCreated),
    POSITION_MOVED: msgspec.json.Decoder(PositionMoved),
    POLICY_SET: msgspec.json.Decoder(PolicySet),
    POLICY_UPDATED: msgspec.json.Decoder(PolicyUpdated),
}

KNOWN_TOPICS: frozenset[str] = frozenset(_DECODERS)


def decode(topic: str, state: bytes) -> Any:
    """The payload Struct of a stored event; PayloadError for a topic this module does not know."""
    decoder = _DECODERS.get(topic)
    if decoder is None:
        raise PayloadError(f"no payload decoder for topic {topic}")
    try:
        return decoder.decode(state)
    except msgspec.DecodeError as exc:  # includes a class_version newer than the Struct knows
        raise PayloadError(f"{topic}: {exc}") from None


# The transcoder writes a Decimal inside free-form JSON as this exact object; the domain refuses
# user objects with exactly these two keys, and a quote inside a JSON string is always escaped,
# so the pattern only ever matches the transcoder's own output.
_DECIMAL = re.compile(rb'\{"_type_":"decimal_str","_data_":"([-+0-9.Ee]+)"\}')
_TAGGED = re.compile(rb'\{"_type_":"[^"]*","_data_":')


def plain_json(raw: msgspec.Raw) -> str | None:
    """Free-form JSON (config, metadata) with tagged Decimals as JSON numbers; None for null."""
    # JSON numbers keep every digit in jsonb, and queries read them back as Decimal.
    data = bytes(raw)
    if data == b"null":
        return None
    if b'"_type_"' in data:
        data = _DECIMAL.sub(rb"\1", data)
        if _TAGGED.search(data):
            raise PayloadError("free-form JSON holds a tagged value other than a Decimal")
    return data.decode()


def dashed_uuid(value: UuidHex) -> str:
    """A tagged UUID in its canonical 8-4-4-4-12 form, for JSON documents."""
    h = value.data
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def optional_decimal_text(value: DecimalStr | None) -> str | None:
    """The exact text of an optional tagged Decimal."""
    return None if value is None else value.data
