"""Opening positions (validation, template rules, policy, tenancy) and moving them."""

from decimal import Decimal
from uuid import uuid4

import pytest

from escrowgrid.domain.errors import (
    ForbiddenTransition,
    PolicyViolation,
    TenancyViolation,
    ValidationError,
)
from escrowgrid.domain.policies import PositionPolicy
from escrowgrid.domain.position import Position
from tests.unit.domain_builders import funded_position, make_asset, make_template, open_position


def fields_of(error: ValidationError) -> list[str]:
    return [detail.field for detail in error.details]


def test_open_position() -> None:
    position = open_position("1000.50", "USD", external_reference="INV-1")
    assert position.state == "CREATED"
    assert position.amount == Decimal("1000.50") and type(position.amount) is Decimal
    assert position.currency == "USD"
    assert position.holder_reference == "holder-1"
    assert position.external_reference == "INV-1"
    assert position.released_amount == 0
    assert position.remaining_amount == Decimal("1000.50")
    assert position.version == 1
    assert position.created_at == position.updated_at
    assert position.lifecycle == []  # transitions only; the creation is the Created event
    assert [type(e).__qualname__ for e in position.collect_events()] == ["Position.Created"]


def test_external_reference_is_optional() -> None:
    assert open_position().external_reference is None
    assert open_position(external_reference="").external_reference == ""


def test_asset_of_another_institution_is_a_tenancy_violation() -> None:
    owner = uuid4()
    template = make_template(owner)
    asset = make_asset(owner, template)
    with pytest.raises(TenancyViolation):
        Position.open(
            uuid4(),
            asset=asset,
            template=template,
            holder_reference="h",
            currency="USD",
            amount="1",
        )


def test_template_must_be_the_assets_template() -> None:
    owner = uuid4()
    asset = make_asset(owner, make_template(owner))
    with pytest.raises(ValueError, match="template"):
        Position.open(
            owner,
            asset=asset,
            template=make_template(owner),
            holder_reference="h",
            currency="USD",
            amount="1",
        )


def test_all_field_errors_are_reported_together() -> None:
    owner = uuid4()
    template = make_template(owner)
    with pytest.raises(ValidationError) as caught:
        Position.open(
            owner,
            asset=make_asset(owner, template),
            template=template,
            holder_reference=" ",
            currency="usd",
            amount=12.5,
            external_reference="x" * 256,
        )
    assert fields_of(caught.value) == ["holderReference", "currency", "amount", "externalReference"]
    assert not isinstance(caught.value, PolicyViolation)


@pytest.mark.parametrize("amount", [0, "-1", "0.000000001", 10**15 + 1, True, "1e3", 1.0])
def test_bad_amounts(amount: object) -> None:
    with pytest.raises(ValidationError) as caught:
        open_position(amount)
    assert fields_of(caught.value) == ["amount"]


def test_largest_amount() -> None:
    assert open_position(10**15).amount == Decimal(10**15)


def test_currency_is_not_bound_to_the_template() -> None:
    position = open_position("10", "EUR", template_config={"currency": "USD", "region": "US"})
    assert position.currency == "EUR"


def test_template_amount_bounds() -> None:
    config: dict[str, object] = {
        "currency": "USD",
        "region": "US",
        "minAmount": 100,
        "maxAmount": Decimal("1000"),
    }
    open_position("100", template_config=config)
    open_position("1000", template_config=config)
    for amount in ["99.99999999", "1000.00000001"]:
        with pytest.raises(ValidationError) as caught:
            open_position(amount, template_config=config)
        assert fields_of(caught.value) == ["amount"]


def test_policy_is_applied() -> None:
    policy = PositionPolicy(Decimal("10"), Decimal("100"), ("USD",))
    assert open_position("50", policy=policy).amount == 50
    with pytest.raises(PolicyViolation) as caught:
        open_position("5", policy=policy)
    assert fields_of(caught.value) == ["amount"]
    with pytest.raises(PolicyViolation):
        open_position("500", policy=policy)
    with pytest.raises(PolicyViolation) as caught:
        open_position("50", "EUR", policy=policy)
    assert fields_of(caught.value) == ["currency"]


def test_move_to_funded() -> None:
    position = open_position()
    assert position.move("FUNDED", reason="wire received", metadata={"ref": "W1"})
    assert position.state == "FUNDED"
    assert position.version == 2
    entry = position.lifecycle[-1]
    assert (entry.from_state, entry.to_state, entry.reason) == (
        "CREATED",
        "FUNDED",
        "wire received",
    )
    assert entry.metadata == {"ref": "W1"}
    assert entry.amount is None
    assert entry.at == position.updated_at
    assert len(position.lifecycle) == 1


def test_noop_move_records_nothing() -> None:
    position = funded_position()
    position.collect_events()
    assert position.move("FUNDED") is False
    assert position.version == 2 and len(position.lifecycle) == 1
    assert position.collect_events() == []


def test_terminal_noop() -> None:
    position = funded_position()
    assert position.move("RELEASED")
    assert position.move("RELEASED") is False
    assert position.move("RELEASED", amount="5") is False


def test_forbidden_move_changes_nothing() -> None:
    position = open_position()
    with pytest.raises(ForbiddenTransition, match="from CREATED to RELEASED"):
        position.move("RELEASED")
    assert position.version == 1 and position.state == "CREATED"


def test_several_partial_releases_then_release() -> None:
    position = funded_position("100")
    assert position.move("PARTIALLY_RELEASED", amount="10.10")
    assert position.move("PARTIALLY_RELEASED", amount=Decimal("20.2"))
    assert position.move("PARTIALLY_RELEASED", amount=30)
    assert position.released_amount == Decimal("60.30")
    assert position.remaining_amount == Decimal("39.70")
    assert position.move("RELEASED", reason="done")
    assert position.released_amount == Decimal("100")
    assert position.remaining_amount == 0
    assert [e.amount for e in position.lifecycle] == [
        None,
        Decimal("10.10"),
        Decimal("20.2"),
        Decimal("30"),
        Decimal("39.70"),
    ]
    assert position.version == 6


def test_tiny_partial_releases_sum_exactly() -> None:
    position = funded_position("0.3")
    assert position.move("PARTIALLY_RELEASED", amount="0.1")
    assert position.move("PARTIALLY_RELEASED", amount="0.2")
    assert position.remaining_amount == Decimal(0)
    assert position.move("RELEASED")
    assert position.lifecycle[-1].amount is None


def test_partial_release_without_amount_is_state_only() -> None:
    position = funded_position("100")
    assert position.move("PARTIALLY_RELEASED", reason="milestone")
    assert position.state == "PARTIALLY_RELEASED" and position.released_amount == 0
    entry = position.lifecycle[-1]
    assert (entry.from_state, entry.to_state, entry.amount) == (
        "FUNDED",
        "PARTIALLY_RELEASED",
        None,
    )
    moved = position.collect_events()[-1]
    assert isinstance(moved, Position.Moved) and moved.released == 0
    assert position.move("PARTIALLY_RELEASED")  # again: one more accepted move
    assert position.version == 4 and position.remaining_amount == 100
    assert position.move("PARTIALLY_RELEASED", amount="30")
    assert position.move("RELEASED")
    assert [e.amount for e in position.lifecycle] == [None, None, None, 30, 70]


def test_over_release_is_rejected() -> None:
    position = funded_position("100")
    position.move("PARTIALLY_RELEASED", amount="99.99999999")
    version = position.version
    with pytest.raises(ValidationError) as caught:
        position.move("PARTIALLY_RELEASED", amount="0.00000002")
    assert fields_of(caught.value) == ["amount"]
    assert position.version == version
    assert position.released_amount == Decimal("99.99999999")


def test_release_amount_must_be_the_remainder() -> None:
    position = funded_position("100")
    position.move("PARTIALLY_RELEASED", amount="40")
    with pytest.raises(ValidationError):
        position.move("RELEASED", amount="50")
    assert position.move("RELEASED", amount="60")
    assert position.released_amount == 100


@pytest.mark.parametrize(
    ("kwargs", "fields"),
    [
        ({"to_state": "funded"}, ["toState"]),
        ({"to_state": None}, ["toState"]),
        ({"to_state": "FUNDED", "reason": "r" * 1001}, ["reason"]),
        ({"to_state": "FUNDED", "reason": 5}, ["reason"]),
        ({"to_state": "FUNDED", "metadata": [1]}, ["metadata"]),
        ({"to_state": "FUNDED", "metadata": {"x": 1.5}}, ["metadata"]),
        ({"to_state": "FUNDED", "amount": "5"}, ["amount"]),
        ({"to_state": "PARTIALLY_RELEASED", "amount": 1.5}, ["amount"]),
        (
            {"to_state": "X", "reason": 5, "metadata": 1, "amount": True},
            [
                "toState",
                "reason",
                "metadata",
                "amount",
            ],
        ),
    ],
)
def test_bad_moves_change_nothing(kwargs: dict[str, object], fields: list[str]) -> None:
    position = open_position()
    with pytest.raises(ValidationError) as caught:
        position.move(**kwargs)
    assert fields_of(caught.value) == fields
    assert position.version == 1 and position.lifecycle == []


def test_reason_of_1000_characters() -> None:
    position = open_position()
    assert position.move("CANCELLED", reason="r" * 1000)


def test_move_metadata_is_copied() -> None:
    position = open_position()
    metadata: dict[str, object] = {"k": ["v"]}
    position.move("FUNDED", metadata=metadata)
    inner = metadata["k"]
    assert isinstance(inner, list)
    inner.append("changed")
    assert position.lifecycle[-1].metadata == {"k": ["v"]}
