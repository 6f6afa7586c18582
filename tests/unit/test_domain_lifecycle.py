"""The lifecycle table, no-op moves, and the amount rules of each move."""

from decimal import Decimal

import pytest

from escrowgrid.domain.errors import ForbiddenTransition, ValidationError
from escrowgrid.domain.lifecycle import ALLOWED, TransitionPlan, is_terminal, plan_transition
from escrowgrid.domain.vocabulary import PositionState

S = PositionState
C, F, P, R, X, E = (
    S.CREATED,
    S.FUNDED,
    S.PARTIALLY_RELEASED,
    S.RELEASED,
    S.CANCELLED,
    S.EXPIRED,
)

# Written out independently of lifecycle.ALLOWED: "move", "noop" or "forbidden".
EXPECTED = {
    C: {C: "noop", F: "move", P: "forbidden", R: "forbidden", X: "move", E: "move"},
    F: {C: "forbidden", F: "noop", P: "move", R: "move", X: "move", E: "move"},
    P: {C: "forbidden", F: "forbidden", P: "move", R: "move", X: "move", E: "move"},
    R: {C: "forbidden", F: "forbidden", P: "forbidden", R: "noop", X: "forbidden", E: "forbidden"},
    X: {C: "forbidden", F: "forbidden", P: "forbidden", R: "forbidden", X: "noop", E: "forbidden"},
    E: {C: "forbidden", F: "forbidden", P: "forbidden", R: "forbidden", X: "forbidden", E: "noop"},
}
FUNDED = Decimal("100")
RELEASED = Decimal("40")


@pytest.mark.parametrize(
    ("current", "target"), [(current, target) for current in S for target in S]
)
def test_every_pair(current: PositionState, target: PositionState) -> None:
    expected = EXPECTED[current][target]
    amount = Decimal("10") if target is P else None
    if expected == "forbidden":
        with pytest.raises(ForbiddenTransition) as caught:
            plan_transition(current, target, amount, FUNDED, RELEASED)
        assert str(caught.value) == f"Cannot transition position from {current} to {target}"
        assert (caught.value.from_state, caught.value.to_state) == (current.value, target.value)
    elif expected == "noop":
        assert plan_transition(current, target, amount, FUNDED, RELEASED) is None
    else:
        plan = plan_transition(current, target, amount, FUNDED, RELEASED)
        assert plan is not None
        assert (plan.from_state, plan.to_state) == (current, target)
        assert (target in ALLOWED[current]) is True


def test_allowed_table_matches_contract() -> None:
    for current in S:
        moves = {target for target, kind in EXPECTED[current].items() if kind == "move"}
        assert ALLOWED[current] == moves


def test_terminal_states() -> None:
    assert {state for state in S if is_terminal(state)} == {R, X, E}


def test_released_to_released_is_a_noop_even_with_an_amount() -> None:
    assert plan_transition(R, R, Decimal("5"), FUNDED, FUNDED) is None


def test_partial_release_plan() -> None:
    assert plan_transition(F, P, Decimal("10.5"), FUNDED, Decimal(0)) == TransitionPlan(
        F, P, Decimal("10.5")
    )


def test_partial_release_of_exactly_the_remainder() -> None:
    plan = plan_transition(P, P, Decimal("60"), FUNDED, RELEASED)
    assert plan is not None and plan.released_now == Decimal("60")


@pytest.mark.parametrize(
    "amount",
    [
        Decimal(0),
        Decimal("-1"),
        Decimal("60.00000001"),
        Decimal("0.000000001"),
        Decimal("NaN"),
    ],
)
def test_bad_partial_release_amounts(amount: Decimal | None) -> None:
    with pytest.raises(ValidationError) as caught:
        plan_transition(P, P, amount, FUNDED, RELEASED)
    assert [detail.field for detail in caught.value.details] == ["amount"]


@pytest.mark.parametrize("current", [F, P])
def test_partial_release_without_amount_releases_nothing(current: PositionState) -> None:
    assert plan_transition(current, P, None, FUNDED, RELEASED) == TransitionPlan(
        current, P, Decimal(0)
    )


def test_partial_release_without_amount_when_nothing_remains() -> None:
    assert plan_transition(P, P, None, FUNDED, FUNDED) == TransitionPlan(P, P, Decimal(0))


def test_release_takes_the_remainder() -> None:
    plan = plan_transition(P, R, None, FUNDED, RELEASED)
    assert plan == TransitionPlan(P, R, Decimal("60"))
    assert plan_transition(F, R, None, FUNDED, Decimal(0)) == TransitionPlan(F, R, FUNDED)


def test_release_with_the_exact_remainder() -> None:
    plan = plan_transition(P, R, Decimal("60.000"), FUNDED, RELEASED)
    assert plan is not None and plan.released_now == Decimal("60")


@pytest.mark.parametrize("amount", [Decimal("59.99999999"), Decimal("60.00000001"), Decimal("100")])
def test_release_with_another_amount_is_rejected(amount: Decimal) -> None:
    with pytest.raises(ValidationError) as caught:
        plan_transition(P, R, amount, FUNDED, RELEASED)
    assert caught.value.details[0].field == "amount"
    assert "60" in caught.value.details[0].message


@pytest.mark.parametrize(("current", "target"), [(C, F), (C, X), (F, E), (P, X), (P, E)])
def test_amount_is_rejected_for_moves_that_release_nothing(
    current: PositionState, target: PositionState
) -> None:
    with pytest.raises(ValidationError) as caught:
        plan_transition(current, target, Decimal("1"), FUNDED, Decimal(0))
    assert caught.value.details[0].field == "amount"


@pytest.mark.parametrize(("current", "target"), [(C, F), (C, X), (F, E), (P, X)])
def test_moves_without_money_release_zero(current: PositionState, target: PositionState) -> None:
    plan = plan_transition(current, target, None, FUNDED, Decimal(0))
    assert plan is not None and plan.released_now == 0


def test_forbidden_is_checked_before_amounts() -> None:
    with pytest.raises(ForbiddenTransition):
        plan_transition(C, P, None, FUNDED, Decimal(0))
