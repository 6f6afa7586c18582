"""Stateful property test: random moves on a Position keep every invariant."""

import re
from decimal import Decimal
from itertools import pairwise

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from escrowgrid.domain.errors import DomainError, ForbiddenTransition, ValidationError
from escrowgrid.domain.money import MAX_AMOUNT
from escrowgrid.domain.position import Position
from escrowgrid.domain.vocabulary import PositionState
from tests.unit.domain_builders import open_position

S = PositionState
# The contract's table, restated here so the model does not trust lifecycle.ALLOWED.
MOVES = {
    S.CREATED: {S.FUNDED, S.CANCELLED, S.EXPIRED},
    S.FUNDED: {S.PARTIALLY_RELEASED, S.RELEASED, S.CANCELLED, S.EXPIRED},
    S.PARTIALLY_RELEASED: {S.PARTIALLY_RELEASED, S.RELEASED, S.CANCELLED, S.EXPIRED},
    S.RELEASED: set(),
    S.CANCELLED: set(),
    S.EXPIRED: set(),
}
ONE_UNIT = Decimal("0.00000001")
PLAIN_NON_NEGATIVE = re.compile(r"[0-9]+(\.[0-9]+)?")

amounts = st.one_of(
    st.decimals(min_value=ONE_UNIT, max_value=MAX_AMOUNT, places=8),
    st.decimals(min_value=1, max_value=10**6, places=0),
    st.decimals(min_value=ONE_UNIT, max_value=Decimal(10), places=2),
)
invalid_amounts = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.decimals(max_value=0, places=8, allow_nan=False),
    st.just(Decimal("0.000000001")),
    st.just(MAX_AMOUNT + ONE_UNIT),
    st.just("1e5"),
    st.just("+5"),
    st.just(Decimal("NaN")),
    st.text(max_size=5).filter(lambda text: not PLAIN_NON_NEGATIVE.fullmatch(text)),
)


class PositionMachine(RuleBasedStateMachine):
    """Drives one position and mirrors it with a tiny independent model."""

    position: Position
    state: S
    released: Decimal
    accepted: int

    @initialize(amount=amounts)
    def open(self, amount: Decimal) -> None:
        self.position = open_position(amount)
        self.state = S.CREATED
        self.released = Decimal(0)
        self.accepted = 0

    @property
    def remaining(self) -> Decimal:
        return self.position.amount - self.released

    def attempt(self, to_state: S, amount: object = None, *, expect_ok: bool) -> None:
        version = self.position.version
        try:
            moved = self.position.move(to_state.value, reason="test", amount=amount)
        except DomainError as error:
            assert isinstance(error, ForbiddenTransition | ValidationError)
            assert not expect_ok, f"{self.state} -> {to_state} ({amount}) rejected: {error}"
            assert self.position.version == version
            return
        assert expect_ok or not moved, f"{self.state} -> {to_state} ({amount}) accepted"
        if not moved:
            assert self.position.version == version
            return
        assert self.position.version == version + 1
        if to_state is S.RELEASED:
            self.released = self.position.amount
        elif to_state is S.PARTIALLY_RELEASED and amount is not None:
            assert isinstance(amount, Decimal)
            self.released += amount
        self.state = to_state
        self.accepted += 1

    @rule(to_state=st.sampled_from([S.CREATED, S.FUNDED, S.CANCELLED, S.EXPIRED, S.RELEASED]))
    def move_without_amount(self, to_state: S) -> None:
        noop = to_state is self.state
        self.attempt(to_state, expect_ok=noop or to_state in MOVES[self.state])

    @rule()
    def partial_release_without_amount(self) -> None:
        # State-only: allowed wherever the move is, whatever remains (even nothing).
        self.attempt(S.PARTIALLY_RELEASED, expect_ok=S.PARTIALLY_RELEASED in MOVES[self.state])

    @rule(fraction=st.integers(min_value=1, max_value=100))
    def partial_release_within_remainder(self, fraction: int) -> None:
        amount = (self.remaining * fraction / 100).quantize(ONE_UNIT, rounding="ROUND_DOWN")
        allowed = S.PARTIALLY_RELEASED in MOVES[self.state] and amount > 0
        self.attempt(S.PARTIALLY_RELEASED, amount, expect_ok=allowed)

    @rule(amount=amounts)
    def partial_release_any(self, amount: Decimal) -> None:
        allowed = S.PARTIALLY_RELEASED in MOVES[self.state] and amount <= self.remaining
        self.attempt(S.PARTIALLY_RELEASED, amount, expect_ok=allowed)

    @precondition(lambda self: self.remaining > 0)
    @rule()
    def over_release(self) -> None:
        self.attempt(S.PARTIALLY_RELEASED, self.remaining + ONE_UNIT, expect_ok=False)

    @rule(exact=st.booleans())
    def release_with_amount(self, exact: bool) -> None:
        amount = self.remaining if exact else self.remaining + ONE_UNIT
        # An amount of 0 is never a valid amount, even for a no-op or an empty remainder.
        allowed = amount > 0 and (
            self.state is S.RELEASED or (exact and S.RELEASED in MOVES[self.state])
        )
        self.attempt(S.RELEASED, amount, expect_ok=allowed)

    @rule(to_state=st.sampled_from(list(S)), amount=invalid_amounts)
    def invalid_amount(self, to_state: S, amount: object) -> None:
        version = self.position.version
        try:
            self.position.move(to_state.value, amount=amount)
        except ValidationError as error:
            assert [detail.field for detail in error.details] == ["amount"]
        else:
            raise AssertionError(f"amount {amount!r} was accepted")
        assert self.position.version == version

    @rule(reason=st.text(min_size=1001, max_size=1100))
    def overlong_reason(self, reason: str) -> None:
        version = self.position.version
        try:
            self.position.move(S.CANCELLED.value, reason=reason)
        except ValidationError:
            pass
        else:
            raise AssertionError("overlong reason accepted")
        assert self.position.version == version

    @invariant()
    def released_never_exceeds_amount(self) -> None:
        assert 0 <= self.position.released_amount <= self.position.amount

    @invariant()
    def remaining_is_exact(self) -> None:
        position = self.position
        assert position.remaining_amount == position.amount - position.released_amount
        assert position.released_amount == self.released

    @invariant()
    def state_matches_model(self) -> None:
        assert self.position.state == self.state.value
        reachable = {S.CREATED}
        for _ in range(len(S)):
            reachable |= {target for state in reachable for target in MOVES[state]}
        assert self.state in reachable

    @invariant()
    def lifecycle_records_each_accepted_move(self) -> None:
        lifecycle = self.position.lifecycle
        assert len(lifecycle) == self.accepted
        assert self.position.version == 1 + self.accepted
        assert not lifecycle or lifecycle[0].from_state == S.CREATED.value
        for previous, entry in pairwise(lifecycle):
            assert entry.from_state == previous.to_state
        assert sum((e.amount or Decimal(0) for e in lifecycle), Decimal(0)) == self.released

    @invariant()
    def released_state_has_nothing_left(self) -> None:
        if self.state is S.RELEASED:
            assert self.position.remaining_amount == 0


PositionMachine.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestPositionMachine = PositionMachine.TestCase
