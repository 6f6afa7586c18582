"""The Position aggregate: money held in escrow for a holder, and its lifecycle."""

from copy import deepcopy
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import Any, Self
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate

from escrowgrid.domain.aggregate import LedgerAggregate
from escrowgrid.domain.asset import Asset
from escrowgrid.domain.asset_template import AssetTemplate
from escrowgrid.domain.currencies import parse_currency
from escrowgrid.domain.errors import ErrorCollector, TenancyViolation
from escrowgrid.domain.lifecycle import plan_transition
from escrowgrid.domain.metadata import validate_metadata
from escrowgrid.domain.money import add_money, format_amount, parse_amount, subtract_money
from escrowgrid.domain.policies import PositionPolicy, check_position_against_policy
from escrowgrid.domain.templates import config_amount_bounds
from escrowgrid.domain.text import parse_optional_text, parse_text
from escrowgrid.domain.vocabulary import PositionState, parse_position_state

MAX_HOLDER_REFERENCE_LENGTH = 255
MAX_EXTERNAL_REFERENCE_LENGTH = 255
MAX_REASON_LENGTH = 1000


@dataclass(frozen=True)
class LifecycleEntry:
    """One accepted transition of a position (the creation is not one)."""

    id: str
    from_state: str
    to_state: str
    reason: str | None
    at: datetime
    metadata: dict[str, object] | None
    amount: Decimal | None  # money released by this step, None when nothing was released


@dataclass(frozen=True)
class _Opening:
    holder_reference: str
    currency: str
    amount: Decimal
    external_reference: str | None


def _validate_opening(
    holder_reference: object, currency: object, amount: object, external_reference: object
) -> _Opening:
    errors = ErrorCollector()
    holder = errors.check(
        partial(
            parse_text, holder_reference, "holderReference", max_length=MAX_HOLDER_REFERENCE_LENGTH
        )
    )
    parsed_currency = errors.check(partial(parse_currency, currency, "currency"))
    parsed_amount = errors.check(partial(parse_amount, amount, "amount"))
    external = errors.check(
        partial(
            parse_optional_text,
            external_reference,
            "externalReference",
            max_length=MAX_EXTERNAL_REFERENCE_LENGTH,
            allow_blank=True,
        )
    )
    errors.raise_if_any()
    assert holder is not None and parsed_currency is not None and parsed_amount is not None
    return _Opening(holder, parsed_currency, parsed_amount, external)


def _check_template_bounds(template: AssetTemplate, opening: _Opening) -> None:
    # The currency is not checked here: the institution's policy decides it, not the template.
    errors = ErrorCollector()
    low, high = config_amount_bounds(template.config)
    if low is not None and opening.amount < low:
        errors.add("amount", f"is below the template minimum {format_amount(low)}")
    if high is not None and opening.amount > high:
        errors.add("amount", f"is above the template maximum {format_amount(high)}")
    errors.raise_if_any()


class Position(LedgerAggregate):
    """An escrow position; `move` walks it through lifecycle.ALLOWED."""

    class Event(Aggregate.Event):
        """Base class of Position events."""

    class Created(Event, Aggregate.Created):
        """The position was opened in state CREATED.

        v2 added external_reference (v1 positions had none).
        """

        class_version = 2

        institution_id: UUID
        asset_id: UUID
        template_id: UUID
        holder_reference: str
        currency: str
        amount: Decimal
        external_reference: str | None
        entry_id: str  # the id of its POSITION_CREATED ledger event

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """v1 payloads had no external_reference."""
            state["external_reference"] = None

    class Moved(Event):
        """The position moved between lifecycle states, possibly releasing money."""

        entry_id: str
        from_state: str
        to_state: str
        reason: str | None
        metadata: dict[str, object] | None
        released: Decimal

        def apply(self, aggregate: "Position") -> None:
            aggregate.state = self.to_state
            aggregate.released_amount = add_money(aggregate.released_amount, self.released)
            aggregate.lifecycle.append(
                LifecycleEntry(
                    id=self.entry_id,
                    from_state=self.from_state,
                    to_state=self.to_state,
                    reason=self.reason,
                    at=self.timestamp,
                    metadata=deepcopy(self.metadata),
                    amount=self.released if self.released else None,
                )
            )

    def __init__(
        self,
        *,
        institution_id: UUID,
        asset_id: UUID,
        template_id: UUID,
        holder_reference: str,
        currency: str,
        amount: Decimal,
        external_reference: str | None,
    ) -> None:
        self.institution_id = institution_id
        self.asset_id = asset_id
        self.template_id = template_id
        self.holder_reference = holder_reference
        self.currency = currency
        self.amount = amount
        self.external_reference = external_reference
        self.state: str = PositionState.CREATED.value
        self.released_amount = Decimal(0)
        self.lifecycle: list[LifecycleEntry] = []

    @classmethod
    def open(
        cls,
        institution_id: UUID,
        *,
        asset: Asset,
        template: AssetTemplate,
        holder_reference: object,
        currency: object,
        amount: object,
        external_reference: object = None,
        policy: PositionPolicy | None = None,
    ) -> Self:
        """Open a position in state CREATED with a random id.

        Checks, in order: tenancy (TenancyViolation), field formats (ValidationError),
        the template's amount bounds (ValidationError), then the policy
        (PolicyViolation). `template` must be the asset's template.
        """
        if asset.institution_id != institution_id:
            raise TenancyViolation("Asset belongs to another institution")
        if template.id != asset.template_id:
            raise ValueError("template is not the asset's template")
        opening = _validate_opening(holder_reference, currency, amount, external_reference)
        _check_template_bounds(template, opening)
        if policy is not None:
            check_position_against_policy(policy, opening.amount, opening.currency)
        return cls._create(
            cls.Created,
            id=uuid4(),
            institution_id=institution_id,
            asset_id=asset.id,
            template_id=template.id,
            holder_reference=opening.holder_reference,
            currency=opening.currency,
            amount=opening.amount,
            external_reference=opening.external_reference,
            entry_id=str(uuid4()),
        )

    @property
    def remaining_amount(self) -> Decimal:
        """Money still held: amount - released_amount, exactly."""
        return subtract_money(self.amount, self.released_amount)

    @property
    def position_state(self) -> PositionState:
        """`state` as the enum."""
        return PositionState(self.state)

    def move(
        self,
        to_state: object,
        reason: object = None,
        metadata: object = None,
        amount: object = None,
    ) -> bool:
        """Move to `to_state`; False (and no event) for a no-op, True after one Moved event.

        Raises ValidationError (fields toState, reason, metadata, amount) or
        ForbiddenTransition; a rejected move changes nothing.
        """
        errors = ErrorCollector()
        target = errors.check(partial(parse_position_state, to_state, "toState"))
        parsed_reason = errors.check(
            partial(
                parse_optional_text,
                reason,
                "reason",
                max_length=MAX_REASON_LENGTH,
                allow_blank=True,
            )
        )
        parsed_metadata = (
            None
            if metadata is None
            else errors.check(partial(validate_metadata, metadata, "metadata"))
        )
        parsed_amount = (
            None if amount is None else errors.check(partial(parse_amount, amount, "amount"))
        )
        errors.raise_if_any()
        assert target is not None
        plan = plan_transition(
            self.position_state, target, parsed_amount, self.amount, self.released_amount
        )
        if plan is None:
            return False
        self.trigger_event(
            self.Moved,
            entry_id=str(uuid4()),
            from_state=plan.from_state.value,
            to_state=plan.to_state.value,
            reason=parsed_reason,
            metadata=parsed_metadata,
            released=plan.released_now,
        )
        return True
