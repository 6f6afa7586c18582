"""Stateful property test: random command sequences against the real event store.

A hypothesis state machine opens positions and moves them through `Ledger` on a real
PostgreSQL database, with valid and invalid amounts and states mixed in. An independent model
(the contract's lifecycle, written out here, not imported from the domain) predicts every
outcome: the new state, or the exact exception. After every step each position of the case
(so also the one just touched) is loaded fresh from the store and compared with the model, and
the number of rows in `events` must equal what the model says was appended (refusals and
no-ops append nothing).

A normal run takes a few seconds. A failure is shrunk against the real store, which can take
minutes (Hypothesis stops shrinking after five).
"""

from __future__ import annotations

import asyncio
import decimal
import re
from collections.abc import Callable, Coroutine
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from decimal import Context, Decimal
from typing import Any, ClassVar, TypeVar
from uuid import UUID, uuid4

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from escrowgrid.application.context import ROOT, CommandContext
from escrowgrid.application.errors import NotFound
from escrowgrid.domain.errors import ForbiddenTransition, ValidationError
from escrowgrid.domain.position import Position
from tests.support.ledger import Fixture, Running, open_ledger, seed

T = TypeVar("T")

CTX = CommandContext(ROOT, request_id="prop", client_addr="127.0.0.1")

# -- the model: the contract's rules, written out independently of escrowgrid.domain --------

CREATED, FUNDED, PARTIAL = "CREATED", "FUNDED", "PARTIALLY_RELEASED"
RELEASED, CANCELLED, EXPIRED = "RELEASED", "CANCELLED", "EXPIRED"
STATES = (CREATED, FUNDED, PARTIAL, RELEASED, CANCELLED, EXPIRED)
ALLOWED: dict[str, frozenset[str]] = {
    CREATED: frozenset({FUNDED, CANCELLED, EXPIRED}),
    FUNDED: frozenset({PARTIAL, RELEASED, CANCELLED, EXPIRED}),
    PARTIAL: frozenset({PARTIAL, RELEASED, CANCELLED, EXPIRED}),
    RELEASED: frozenset(),
    CANCELLED: frozenset(),
    EXPIRED: frozenset(),
}

ONE_UNIT = Decimal("0.00000001")
MAX_AMOUNT = Decimal(10) ** 15
MAX_PLACES = 8
MAX_LITERAL = 64
PLAIN_LITERAL = re.compile(r"-?[0-9]+(\.[0-9]+)?")  # ASCII digits only, no exponent, no '+'
# Wide enough that the model's own arithmetic never rounds.
EXACT = Context(prec=200, traps=[decimal.Inexact, decimal.InvalidOperation])


def fractional_places(value: Decimal) -> int:
    """Significant fractional digits, from the digit tuple (no context, so never rounded)."""
    _, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    trailing_zeros = len(digits) - len("".join(map(str, digits)).rstrip("0"))
    if trailing_zeros == len(digits):
        return 0
    return max(0, -(exponent + trailing_zeros))


def model_amount(value: object) -> Decimal | None:
    """The amount the service must accept for `value`, or None when it must refuse it."""
    if isinstance(value, bool | float):
        return None
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, str):
        if len(value) > MAX_LITERAL or not PLAIN_LITERAL.fullmatch(value):
            return None
        number = Decimal(value)
    else:
        return None
    if not number.is_finite() or number <= 0 or number > MAX_AMOUNT:
        return None
    if fractional_places(number) > MAX_PLACES:
        return None
    return number


@dataclass(frozen=True)
class Accepted:
    to_state: str
    released_now: Decimal


@dataclass(frozen=True)
class NoOp:
    pass


Expected = Accepted | NoOp | type[Exception]


@dataclass
class ModelPosition:
    amount: Decimal
    state: str = CREATED
    released: Decimal = Decimal(0)
    # (from_state, to_state, money released by the step or None): the transitions only.
    history: list[tuple[str, str, Decimal | None]] = field(default_factory=list)

    @property
    def remaining(self) -> Decimal:
        return EXACT.subtract(self.amount, self.released)

    @property
    def version(self) -> int:
        return 1 + len(self.history)

    def expect(self, to_state: object, raw_amount: object) -> Expected:
        """What moving to `to_state` with `raw_amount` (None: no amount) must do."""
        if not isinstance(to_state, str) or to_state not in STATES:
            return ValidationError
        amount = None
        if raw_amount is not None:
            amount = model_amount(raw_amount)
            if amount is None:  # a malformed amount is refused even for a no-op
                return ValidationError
        if to_state == self.state and to_state != PARTIAL:
            return NoOp()  # whatever the (well-formed) amount
        if to_state not in ALLOWED[self.state]:
            return ForbiddenTransition
        if to_state == PARTIAL:
            if amount is None:  # state-only: releases nothing
                return Accepted(PARTIAL, Decimal(0))
            if amount > self.remaining:
                return ValidationError
            return Accepted(PARTIAL, amount)
        if to_state == RELEASED:
            if amount is not None and amount != self.remaining:
                return ValidationError
            return Accepted(RELEASED, self.remaining)
        if amount is not None:
            return ValidationError
        return Accepted(to_state, Decimal(0))

    def apply(self, step: Accepted) -> None:
        released = step.released_now if step.released_now else None
        self.history.append((self.state, step.to_state, released))
        self.released = EXACT.add(self.released, step.released_now)
        self.state = step.to_state


# -- strategies ---------------------------------------------------------------------------

valid_amounts: st.SearchStrategy[object] = st.one_of(
    st.decimals(min_value=ONE_UNIT, max_value=MAX_AMOUNT, places=8),
    st.decimals(min_value=ONE_UNIT, max_value=Decimal(1000), places=2),
    st.integers(min_value=1, max_value=10**6),
    st.integers(min_value=1, max_value=10**15).map(str),
    st.sampled_from(
        [
            ONE_UNIT,
            MAX_AMOUNT,
            Decimal("1E+3"),  # positive exponent: 1000
            Decimal("1.50000000000"),  # 11 places written, 1 significant
            "12.50",
            "0012.5",
            "1000000000000000",
            "1." + "0" * 62,  # 64 characters, the longest literal accepted
        ]
    ),
)

# More than 8 places, but fewer than 34 significant digits (see the xfail test below).
too_many_places = st.builds(
    lambda base, places: base + Decimal(1).scaleb(-places),
    st.decimals(min_value=0, max_value=Decimal(10**6), places=2),
    st.integers(min_value=9, max_value=20),
)

invalid_amounts: st.SearchStrategy[object] = st.one_of(
    st.sampled_from([0, Decimal(0), Decimal("-0"), Decimal("0E-20"), "0", "0.00", "-0.0"]),
    st.decimals(max_value=-ONE_UNIT, places=8, allow_nan=False, allow_infinity=False),
    st.integers(max_value=-1),
    too_many_places,
    st.sampled_from([Decimal("0.000000001"), "1.123456789", Decimal("123456789012345.123456789")]),
    st.decimals(min_value=MAX_AMOUNT + ONE_UNIT, max_value=MAX_AMOUNT * 1000, places=8),
    st.integers(min_value=10**15 + 1, max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.sampled_from(
        [
            "1e5",
            "1E+3",
            "+5",
            ".5",
            "5.",
            " 12",
            "12 ",
            "1,000",
            "12.5.1",
            "abc",
            "",
            "\u0661\u0662\u0663",  # Arabic-Indic digits: Decimal() would take them
            "NaN",
            "Infinity",
            "-5",
            "1." + "0" * 63,  # 65 characters: too long, though the value is fine
            "1000000000000001",
        ]
    ),
    st.sampled_from([Decimal("NaN"), Decimal("Infinity"), Decimal("-Infinity"), Decimal("sNaN")]),
    st.sampled_from([[1], {"value": 1}, b"12"]),
)

opening_amounts = st.one_of(valid_amounts, valid_amounts, st.one_of(invalid_amounts, st.none()))
move_amounts = st.one_of(st.none(), st.none(), valid_amounts, invalid_amounts)

BOGUS_STATES: list[object] = [
    "created",
    "Funded",
    "",
    " RELEASED",
    "PARTIALLY RELEASED",
    "DELETED",
    None,
    1,
    b"FUNDED",
]
targets = st.sampled_from([*STATES, *STATES, *BOGUS_STATES])
release_targets = st.sampled_from([PARTIAL, PARTIAL, PARTIAL, RELEASED, RELEASED, *STATES])


ROUNDING = Context(prec=200)  # for shares of the remainder, cut to 8 places afterwards


@dataclass(frozen=True)
class Relative:
    """An amount defined by what is left, resolved when the step runs (strategies stay static)."""

    name: str
    shape: Callable[[Decimal], object]

    def __repr__(self) -> str:
        return f"Relative({self.name!r})"


def share(numerator: int, denominator: int) -> Callable[[Decimal], Decimal]:
    def shape(remaining: Decimal) -> Decimal:
        part = ROUNDING.divide(ROUNDING.multiply(remaining, numerator), denominator)
        return part.quantize(ONE_UNIT, rounding=decimal.ROUND_DOWN)

    return shape


REMAINING = Relative("remaining", lambda r: r)
REMAINING_TEXT = Relative("remaining as a string", lambda r: format(r, "f"))
HALF = Relative("half", share(1, 2))
ONE_UNIT_OF = Relative("one unit", lambda r: ONE_UNIT)
# Right and wrong amounts around the remainder: exact, just over, just under, shares, formats.
RELATIVE = [
    REMAINING,
    REMAINING_TEXT,
    Relative("remaining, 12 places", lambda r: r.quantize(Decimal("1E-12"), context=EXACT)),
    Relative("remaining + 1e-8", lambda r: EXACT.add(r, ONE_UNIT)),
    Relative("remaining - 1e-8", lambda r: EXACT.subtract(r, ONE_UNIT)),
    HALF,
    Relative("a third", share(1, 3)),
    Relative("a third as a string", lambda r: format(share(1, 3)(r), "f")),
    Relative("remaining + 1e-9", lambda r: EXACT.add(r, Decimal("1E-9"))),
    Relative("twice remaining", lambda r: EXACT.multiply(r, 2)),
    Relative("remaining as a float", float),
    ONE_UNIT_OF,
]


def resolve(amount: object, remaining: Decimal) -> object:
    return amount.shape(remaining) if isinstance(amount, Relative) else amount


release_amounts = st.one_of(st.none(), st.sampled_from(RELATIVE), valid_amounts, invalid_amounts)

# What `advance` offers from each state: the allowed targets, leaning towards the money moves,
# plus the current state (a no-op, also from terminal states).
FORWARD: dict[str, list[str]] = {
    CREATED: [FUNDED, FUNDED, FUNDED, FUNDED, CANCELLED, EXPIRED, CREATED],
    FUNDED: [PARTIAL, PARTIAL, PARTIAL, RELEASED, RELEASED, CANCELLED, EXPIRED, FUNDED],
    PARTIAL: [PARTIAL, PARTIAL, PARTIAL, PARTIAL, RELEASED, RELEASED, CANCELLED, EXPIRED],
    RELEASED: [RELEASED],
    CANCELLED: [CANCELLED],
    EXPIRED: [EXPIRED],
}


# Amounts a well-behaved client would send with each target (some still refused at edges).
LAWFUL_AMOUNTS: dict[str, st.SearchStrategy[object]] = {
    PARTIAL: st.sampled_from(
        [
            Relative("a tenth", share(1, 10)),
            Relative("three tenths", share(3, 10)),
            HALF,
            Relative("nine tenths", share(9, 10)),
            REMAINING,
            ONE_UNIT_OF,
            Relative("half as a string", lambda r: format(share(1, 2)(r), "f")),
        ]
    ),
    RELEASED: st.sampled_from([None, None, REMAINING, REMAINING_TEXT]),
}


# -- the machine --------------------------------------------------------------------------


class StoreMachine(RuleBasedStateMachine):
    """Positions in the real store, mirrored by `ModelPosition`s."""

    dsn: ClassVar[str]
    seeded: ClassVar[Fixture]  # institution, template and asset, made once per test
    MAX_POSITIONS: ClassVar[int] = 6  # in a case
    MAX_LIVE: ClassVar[int] = 2  # not yet in a terminal state

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.stack = AsyncExitStack()
        self.running: Running = self.run(self.stack.enter_async_context(open_ledger(self.dsn)))
        # The database is shared by every case of the test: count relative to this start.
        self.expected_events = self.run(self.count_events())
        self.positions: dict[UUID, ModelPosition] = {}

    def teardown(self) -> None:
        try:
            self.run(self.stack.aclose())
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        finally:
            self.loop.close()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    def attempt(self, coro: Coroutine[Any, Any, T]) -> T | Exception:
        try:
            return self.run(coro)
        except Exception as error:
            return error

    async def count_events(self) -> int:
        async with self.running.pool.connection() as conn:
            row = await (await conn.execute("SELECT count(*) FROM events")).fetchone()
        assert row is not None
        return int(row[0])

    def pick(self, data: st.DataObject, *, live_first: bool = False) -> UUID:
        """A known position; with live_first, one not yet terminal when there is one."""
        candidates = list(self.positions)
        if live_first:
            live = [pid for pid in candidates if ALLOWED[self.positions[pid].state]]
            candidates = live or candidates
        return data.draw(st.sampled_from(candidates), label="position")

    # -- rules ------------------------------------------------------------------------------

    def open(self, amount: object) -> None:
        expected = model_amount(amount)
        outcome = self.attempt(
            self.running.ledger.open_position(
                CTX,
                self.seeded.institution_id,
                asset_id=self.seeded.asset_id,
                holder_reference="holder-prop",
                currency="USD",
                amount=amount,
            )
        )
        if expected is None:
            assert type(outcome) is ValidationError, f"amount {amount!r}: {outcome!r}"
            return
        assert not isinstance(outcome, Exception), f"amount {amount!r} refused: {outcome!r}"
        assert outcome.position is not None and outcome.value is not None
        opened = outcome.value
        assert opened.state == CREATED
        assert isinstance(opened.amount, Decimal) and opened.amount == expected
        self.positions[opened.id] = ModelPosition(expected)
        self.expected_events += 1

    @initialize(amount=valid_amounts)
    def open_first_position(self, amount: object) -> None:
        self.open(amount)

    def may_open(self) -> bool:
        live = [m for m in self.positions.values() if ALLOWED[m.state]]
        return len(self.positions) < self.MAX_POSITIONS and len(live) < self.MAX_LIVE

    @precondition(may_open)
    @rule(amount=opening_amounts)
    def open_position(self, amount: object) -> None:
        self.open(amount)

    def move(self, position_id: UUID, to_state: object, amount: object) -> None:
        model = self.positions[position_id]
        expected = model.expect(to_state, amount)
        outcome = self.attempt(
            self.running.ledger.move_position(CTX, position_id, to_state=to_state, amount=amount)
        )
        where = f"{model.state} -> {to_state!r} amount={amount!r} remaining={model.remaining}"
        if isinstance(expected, type):
            assert type(outcome) is expected, f"{where}: expected {expected.__name__}, {outcome!r}"
            return
        assert not isinstance(outcome, Exception), f"{where}: expected {expected}, {outcome!r}"
        assert outcome.value is not None
        if isinstance(expected, NoOp):
            assert outcome.position is None, f"{where}: a no-op appended"
            assert outcome.value.state == model.state
            return
        assert outcome.position is not None, f"{where}: accepted move appended nothing"
        assert outcome.value.state == expected.to_state
        model.apply(expected)
        self.expected_events += 1

    @precondition(lambda self: self.positions)
    @rule(data=st.data())
    def advance(self, data: st.DataObject) -> None:
        """A lawful-looking move: a target the lifecycle offers (or the current state)."""
        position_id = self.pick(data, live_first=True)
        model = self.positions[position_id]
        to_state = data.draw(st.sampled_from(FORWARD[model.state]), label="to_state")
        amount = data.draw(LAWFUL_AMOUNTS.get(to_state, st.none()), label="amount")
        self.move(position_id, to_state, resolve(amount, model.remaining))

    @precondition(lambda self: self.positions)
    @rule(data=st.data())
    def move_anywhere(self, data: st.DataObject) -> None:
        """Any target, bogus ones included, with any amount; now and then an unknown id."""
        if data.draw(st.integers(min_value=0, max_value=5), label="unknown id? (5: yes)") == 5:
            to_state = data.draw(targets, label="to_state")
            amount = data.draw(move_amounts, label="amount")
            outcome = self.attempt(
                self.running.ledger.move_position(CTX, uuid4(), to_state=to_state, amount=amount)
            )
            assert type(outcome) is NotFound, repr(outcome)
            return
        position_id = self.pick(data)
        to_state = data.draw(targets, label="to_state")
        self.move(position_id, to_state, data.draw(move_amounts, label="amount"))

    @precondition(lambda self: self.positions)
    @rule(data=st.data())
    def release(self, data: st.DataObject) -> None:
        """Releases (mostly) with amounts around what is left, right and wrong."""
        position_id = self.pick(data, live_first=True)
        to_state = data.draw(release_targets, label="to_state")
        amount = data.draw(release_amounts, label="amount")
        self.move(position_id, to_state, resolve(amount, self.positions[position_id].remaining))

    # -- invariants -------------------------------------------------------------------------

    @invariant()
    def every_position_matches_the_store(self) -> None:
        """Each position, loaded fresh from the event store, is what the model says."""
        for position_id, model in self.positions.items():
            stored = self.run(self.running.ledger.get(Position, position_id, CTX))
            assert stored.state == model.state
            assert isinstance(stored.amount, Decimal) and stored.amount == model.amount
            assert isinstance(stored.released_amount, Decimal)
            assert stored.released_amount == model.released
            assert isinstance(stored.remaining_amount, Decimal)
            assert stored.remaining_amount == model.remaining
            assert stored.remaining_amount == EXACT.subtract(stored.amount, stored.released_amount)
            assert 0 <= stored.released_amount <= stored.amount
            assert stored.version == model.version  # 1 + accepted moves
            steps = [(e.from_state, e.to_state, e.amount) for e in stored.lifecycle]
            assert steps == model.history
            if model.state == RELEASED:
                assert stored.remaining_amount == 0

    @invariant()
    def events_table_holds_exactly_what_was_accepted(self) -> None:
        assert self.run(self.count_events()) == self.expected_events


@pytest.mark.slow
def test_random_command_sequences_against_the_store(database_url: str) -> None:
    async def prepare() -> Fixture:
        async with open_ledger(database_url) as running:
            return await seed(running.ledger)

    fixture = asyncio.run(prepare())

    class Bound(StoreMachine):
        dsn = database_url
        seeded = fixture

    run_state_machine_as_test(
        Bound,
        settings=settings(
            max_examples=40,
            stateful_step_count=30,
            deadline=None,
            report_multiple_bugs=False,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )


# -- more significant digits than a decimal context holds ------------------------------------

# 0.111...1 with 40 ones: <= 10^15, > 0, far more than 8 places, 42 characters (a literal the
# parser admits). It once raised decimal.Inexact from a 34-digit context; it must be a 400.
TOO_PRECISE = "0." + "1" * 40


@pytest.mark.parametrize("command", ["open", "move"])
def test_amount_with_more_than_34_digits_is_a_validation_error(
    database_url: str, command: str
) -> None:
    async def go() -> None:
        async with open_ledger(database_url) as running:
            fx = await seed(running.ledger)

            async def open_with(amount: object) -> Position:
                opened = await running.ledger.open_position(
                    CTX,
                    fx.institution_id,
                    asset_id=fx.asset_id,
                    holder_reference="holder-prop",
                    currency="USD",
                    amount=amount,
                )
                assert opened.value is not None
                return opened.value

            if command == "open":
                with pytest.raises(ValidationError):
                    await open_with(TOO_PRECISE)
                return
            position = await open_with(Decimal(1))
            await running.ledger.move_position(CTX, position.id, to_state=FUNDED)
            with pytest.raises(ValidationError):
                await running.ledger.move_position(
                    CTX, position.id, to_state=PARTIAL, amount=TOO_PRECISE
                )

    asyncio.run(go())
