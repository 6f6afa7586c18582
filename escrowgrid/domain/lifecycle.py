"""The position state machine and the amount rules of each move, as pure functions."""

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType

from escrowgrid.domain.errors import ForbiddenTransition, ValidationError
from escrowgrid.domain.money import AMOUNT_PLACES, decimal_places, format_amount, subtract_money
from escrowgrid.domain.vocabulary import PositionState

_S = PositionState

ALLOWED: Mapping[PositionState, frozenset[PositionState]] = MappingProxyType(
    {
        _S.CREATED: frozenset({_S.FUNDED, _S.CANCELLED, _S.EXPIRED}),
        _S.FUNDED: frozenset({_S.PARTIALLY_RELEASED, _S.RELEASED, _S.CANCELLED, _S.EXPIRED}),
        _S.PARTIALLY_RELEASED: frozenset(
            {_S.PARTIALLY_RELEASED, _S.RELEASED, _S.CANCELLED, _S.EXPIRED}
        ),
        _S.RELEASED: frozenset(),
        _S.CANCELLED: frozenset(),
        _S.EXPIRED: frozenset(),
    }
)


def is_terminal(state: PositionState) -> bool:
    """True when no move leaves `state`."""
    return not ALLOWED[state]


@dataclass(frozen=True)
class TransitionPlan:
    """An accepted move and the money it releases (0 when none)."""

    from_state: PositionState
    to_state: PositionState
    released_now: Decimal


def _partial_release(amount: Decimal | None, remaining: Decimal) -> Decimal:
    # Without an amount the move is state-only (the original service's clients rely on it).
    if amount is None:
        return Decimal(0)
    if not amount.is_finite() or amount <= 0:
        raise ValidationError.single("amount", "must be greater than 0")
    if decimal_places(amount) > AMOUNT_PLACES:
        raise ValidationError.single("amount", f"must have at most {AMOUNT_PLACES} decimal places")
    if amount > remaining:
        raise ValidationError.single(
            "amount", f"must not exceed the remaining amount {format_amount(remaining)}"
        )
    return amount


def _full_release(amount: Decimal | None, remaining: Decimal) -> Decimal:
    if amount is not None and amount != remaining:
        raise ValidationError.single(
            "amount", f"must equal the remaining amount {format_amount(remaining)} when releasing"
        )
    return remaining


def plan_transition(
    current_state: PositionState,
    to_state: PositionState,
    amount: Decimal | None,
    funded_amount: Decimal,
    released_amount: Decimal,
) -> TransitionPlan | None:
    """Decide a move: None for a no-op, a plan when allowed.

    Moving to the current state (other than PARTIALLY_RELEASED) is a no-op, whatever the
    amount; PARTIALLY_RELEASED without an amount releases nothing. Raises ForbiddenTransition
    for moves the lifecycle forbids and ValidationError for amount problems.
    """
    if to_state == current_state and to_state != PositionState.PARTIALLY_RELEASED:
        return None
    if to_state not in ALLOWED[current_state]:
        raise ForbiddenTransition(current_state.value, to_state.value)
    remaining = subtract_money(funded_amount, released_amount)
    if to_state == PositionState.PARTIALLY_RELEASED:
        released_now = _partial_release(amount, remaining)
    elif to_state == PositionState.RELEASED:
        released_now = _full_release(amount, remaining)
    elif amount is not None:
        raise ValidationError.single(
            "amount", "is only accepted when moving to PARTIALLY_RELEASED or RELEASED"
        )
    else:
        released_now = Decimal(0)
    return TransitionPlan(current_state, to_state, released_now)
