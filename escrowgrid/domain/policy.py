"""The Policy aggregate: one institution's position limits for one region."""

from decimal import Decimal
from typing import Self
from uuid import UUID

from eventsourcing.domain import Aggregate

from escrowgrid.domain.aggregate import LedgerAggregate
from escrowgrid.domain.policies import PositionPolicy, policy_id
from escrowgrid.domain.vocabulary import Region, parse_region


class Policy(LedgerAggregate):
    """Position limits; its id is policies.policy_id(institution_id, region), so upserts find it."""

    class Event(Aggregate.Event):
        """Base class of Policy events."""

    class Set(Event, Aggregate.Created):
        """The policy was first set."""

        institution_id: UUID
        region: str
        min_amount: Decimal | None
        max_amount: Decimal | None
        allowed_currencies: list[str] | None

    class Updated(Event):
        """The policy's limits were replaced."""

        min_amount: Decimal | None
        max_amount: Decimal | None
        allowed_currencies: list[str] | None

        def apply(self, aggregate: "Policy") -> None:
            aggregate.min_amount = self.min_amount
            aggregate.max_amount = self.max_amount
            aggregate.allowed_currencies = _copy(self.allowed_currencies)

    def __init__(
        self,
        institution_id: UUID,
        region: str,
        min_amount: Decimal | None,
        max_amount: Decimal | None,
        allowed_currencies: list[str] | None,
    ) -> None:
        self.institution_id = institution_id
        self.region = region
        self.min_amount = min_amount
        self.max_amount = max_amount
        self.allowed_currencies = _copy(allowed_currencies)

    @classmethod
    def set(
        cls, institution_id: UUID, region: Region | str, position_policy: PositionPolicy
    ) -> Self:
        """Create the policy for (institution, region); a bad region is a ValidationError."""
        parsed_region = parse_region(region, "region")
        return cls._create(
            cls.Set,
            id=policy_id(institution_id, parsed_region),
            institution_id=institution_id,
            region=parsed_region.value,
            **_payload(position_policy),
        )

    def update(self, position_policy: PositionPolicy) -> bool:
        """Replace the limits; returns False and records nothing when they are unchanged."""
        if position_policy == self.position_policy:
            return False
        self.trigger_event(self.Updated, **_payload(position_policy))
        return True

    @property
    def position_policy(self) -> PositionPolicy:
        """The limits as a value object for check_position_against_policy."""
        currencies = self.allowed_currencies
        return PositionPolicy(
            self.min_amount,
            self.max_amount,
            None if currencies is None else tuple(currencies),
        )

    @property
    def config(self) -> dict[str, object]:
        """The contract's `config` object: {"region", "position": {...}}."""
        return {"region": self.region, "position": self.position_policy.to_config()}


def _copy(currencies: list[str] | None) -> list[str] | None:
    return None if currencies is None else list(currencies)


def _payload(position_policy: PositionPolicy) -> dict[str, object]:
    currencies = position_policy.allowed_currencies
    return {
        "min_amount": position_policy.min_amount,
        "max_amount": position_policy.max_amount,
        "allowed_currencies": None if currencies is None else list(currencies),
    }
