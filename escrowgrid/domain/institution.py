"""The Institution aggregate: a tenant, its regions, verticals and API keys."""

import re
from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial
from typing import Self
from uuid import uuid4

from eventsourcing.domain import Aggregate

from escrowgrid.domain.aggregate import LedgerAggregate
from escrowgrid.domain.errors import ErrorCollector, KeyNotFound, ValidationError
from escrowgrid.domain.text import parse_text
from escrowgrid.domain.vocabulary import (
    Region,
    Vertical,
    parse_api_key_role,
    parse_region,
    parse_vertical,
)

MAX_NAME_LENGTH = 255
MAX_LABEL_LENGTH = 255
MAX_REGIONS = 10
MAX_KEY_ID_LENGTH = 64
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class ApiKeyRecord:
    """An issued API key as the domain knows it: a hash, never the token."""

    id: str
    label: str
    role: str
    key_hash: str
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def is_active(self) -> bool:
        """True until the key is revoked."""
        return self.revoked_at is None


def _parse_regions(value: object) -> list[Region]:
    if not isinstance(value, list):
        raise ValidationError.single("regions", "must be a list of regions")
    if not 1 <= len(value) <= MAX_REGIONS:
        raise ValidationError.single("regions", f"must hold 1 to {MAX_REGIONS} regions")
    errors = ErrorCollector()
    parsed = [
        errors.check(partial(parse_region, item, f"regions[{i}]")) for i, item in enumerate(value)
    ]
    errors.raise_if_any()
    return list(dict.fromkeys(region for region in parsed if region is not None))


def _parse_verticals(value: object) -> list[Vertical]:
    if value is None:  # omitted: the contract's default is every vertical
        return list(Vertical)
    if not isinstance(value, list):
        raise ValidationError.single("verticals", "must be a list of verticals")
    errors = ErrorCollector()
    parsed = [
        errors.check(partial(parse_vertical, item, f"verticals[{i}]"))
        for i, item in enumerate(value)
    ]
    errors.raise_if_any()
    return list(dict.fromkeys(vertical for vertical in parsed if vertical is not None))


class Institution(LedgerAggregate):
    """A tenant of the platform."""

    class Event(Aggregate.Event):
        """Base class of Institution events."""

    class Registered(Event, Aggregate.Created):
        """The institution was registered."""

        name: str
        regions: list[str]
        verticals: list[str]

    class ApiKeyIssued(Event):
        """An API key was issued; only its sha256 hash is recorded."""

        key_id: str
        label: str
        role: str
        key_hash: str

        def apply(self, aggregate: "Institution") -> None:
            aggregate.api_keys[self.key_id] = ApiKeyRecord(
                id=self.key_id,
                label=self.label,
                role=self.role,
                key_hash=self.key_hash,
                created_at=self.timestamp,
            )

    class ApiKeyRevoked(Event):
        """An API key was revoked and stops working."""

        key_id: str

        def apply(self, aggregate: "Institution") -> None:
            record = aggregate.api_keys[self.key_id]
            aggregate.api_keys[self.key_id] = replace(record, revoked_at=self.timestamp)

    def __init__(self, name: str, regions: list[str], verticals: list[str]) -> None:
        self.name = name
        self.regions = list(regions)
        self.verticals = list(verticals)
        self.api_keys: dict[str, ApiKeyRecord] = {}

    @classmethod
    def register(cls, name: object, regions: object, verticals: object = None) -> Self:
        """Validate and register a new institution with a random id.

        regions: 1..10 Region codes; verticals: Vertical codes, every one when omitted.
        Duplicates are dropped, first occurrence order kept.
        """
        errors = ErrorCollector()
        parsed_name = errors.check(partial(parse_text, name, "name", max_length=MAX_NAME_LENGTH))
        parsed_regions = errors.check(partial(_parse_regions, regions))
        parsed_verticals = errors.check(partial(_parse_verticals, verticals))
        errors.raise_if_any()
        assert parsed_name is not None and parsed_regions is not None
        assert parsed_verticals is not None
        return cls._create(
            cls.Registered,
            id=uuid4(),
            name=parsed_name,
            regions=[region.value for region in parsed_regions],
            verticals=[vertical.value for vertical in parsed_verticals],
        )

    def active_api_keys(self) -> list[ApiKeyRecord]:
        """Keys not revoked, oldest first."""
        return [record for record in self.api_keys.values() if record.is_active]

    def issue_api_key(
        self, key_id: str, label: object, role: object, key_hash: str
    ) -> ApiKeyRecord:
        """Record a new key. label/role are client input (ValidationError); key_id and
        key_hash come from the command layer, so bad values there raise ValueError.
        """
        if not isinstance(key_id, str) or not 1 <= len(key_id) <= MAX_KEY_ID_LENGTH:
            raise ValueError("key_id must be a string of 1 to 64 characters")
        if key_id in self.api_keys:
            raise ValueError(f"API key id {key_id} is already used")
        if not isinstance(key_hash, str) or not _SHA256_HEX.fullmatch(key_hash):
            raise ValueError("key_hash must be a lower-case hex sha256 digest")
        errors = ErrorCollector()
        parsed_label = errors.check(
            partial(parse_text, label, "label", max_length=MAX_LABEL_LENGTH)
        )
        parsed_role = errors.check(partial(parse_api_key_role, role, "role"))
        errors.raise_if_any()
        assert parsed_label is not None and parsed_role is not None
        self.trigger_event(
            self.ApiKeyIssued,
            key_id=key_id,
            label=parsed_label,
            role=parsed_role.value,
            key_hash=key_hash,
        )
        return self.api_keys[key_id]

    def revoke_api_key(self, key_id: str) -> ApiKeyRecord:
        """Revoke a key; KeyNotFound when unknown or already revoked."""
        record = self.api_keys.get(key_id)
        if record is None or not record.is_active:
            raise KeyNotFound(key_id)
        self.trigger_event(self.ApiKeyRevoked, key_id=key_id)
        return self.api_keys[key_id]
