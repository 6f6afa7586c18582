"""Position policies: parsing the contract body, checking positions, deterministic ids."""

from decimal import Decimal
from uuid import uuid4

import pytest

from escrowgrid.domain.errors import PolicyViolation, ValidationError
from escrowgrid.domain.policies import (
    PositionPolicy,
    check_position_against_policy,
    parse_position_policy,
    policy_id,
)
from escrowgrid.domain.vocabulary import Region


def fields_of(error: ValidationError) -> list[str]:
    return [detail.field for detail in error.details]


def test_empty_policy_has_no_limits() -> None:
    assert parse_position_policy({}) == PositionPolicy(None, None, None)


def test_full_policy() -> None:
    policy = parse_position_policy(
        {"minAmount": "10.50", "maxAmount": 1000, "allowedCurrencies": ["USD", "EUR", "USD"]}
    )
    assert policy == PositionPolicy(Decimal("10.50"), Decimal(1000), ("USD", "EUR"))
    assert policy.to_config() == {
        "minAmount": Decimal("10.50"),
        "maxAmount": Decimal(1000),
        "allowedCurrencies": ["USD", "EUR"],
    }


def test_nulls_mean_absent() -> None:
    assert (
        parse_position_policy({"minAmount": None, "maxAmount": None, "allowedCurrencies": None})
        == PositionPolicy()
    )


def test_min_equal_to_max_is_fine() -> None:
    assert parse_position_policy({"minAmount": 5, "maxAmount": "5.0"}).min_amount == 5


def test_min_above_max_is_rejected() -> None:
    with pytest.raises(ValidationError) as caught:
        parse_position_policy({"minAmount": "100", "maxAmount": "99.99999999"})
    assert fields_of(caught.value) == ["position.minAmount"]


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"minAmount": 0}, ["position.minAmount"]),
        ({"minAmount": 1.5}, ["position.minAmount"]),
        ({"maxAmount": "1e3"}, ["position.maxAmount"]),
        ({"maxAmount": 10**15 + 1}, ["position.maxAmount"]),
        ({"maxAmount": True}, ["position.maxAmount"]),
        ({"allowedCurrencies": "USD"}, ["position.allowedCurrencies"]),
        ({"allowedCurrencies": []}, ["position.allowedCurrencies"]),
        (
            {"allowedCurrencies": ["USD", "usd", "XXX"]},
            [
                "position.allowedCurrencies[1]",
                "position.allowedCurrencies[2]",
            ],
        ),
        (
            {"minAmount": -1, "maxAmount": "abc", "allowedCurrencies": [1]},
            [
                "position.minAmount",
                "position.maxAmount",
                "position.allowedCurrencies[0]",
            ],
        ),
    ],
)
def test_bad_policies(body: dict[str, object], fields: list[str]) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_position_policy(body)
    assert fields_of(caught.value) == fields


@pytest.mark.parametrize("body", [None, [], "x"])
def test_policy_must_be_an_object(body: object) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_position_policy(body)
    assert fields_of(caught.value) == ["position"]


POLICY = PositionPolicy(Decimal("100"), Decimal("1000"), ("USD", "EUR"))


@pytest.mark.parametrize(
    ("amount", "currency"),
    [("100", "USD"), ("1000", "EUR"), ("500.5", "USD")],
)
def test_positions_within_policy_pass(amount: str, currency: str) -> None:
    check_position_against_policy(POLICY, Decimal(amount), currency)


@pytest.mark.parametrize(
    ("amount", "currency", "fields"),
    [
        ("99.99999999", "USD", ["amount"]),
        ("1000.00000001", "USD", ["amount"]),
        ("500", "GBP", ["currency"]),
        ("1", "JPY", ["amount", "currency"]),
    ],
)
def test_policy_violations(amount: str, currency: str, fields: list[str]) -> None:
    with pytest.raises(PolicyViolation) as caught:
        check_position_against_policy(POLICY, Decimal(amount), currency)
    assert fields_of(caught.value) == fields
    assert isinstance(caught.value, ValidationError)


def test_policy_without_limits_allows_anything() -> None:
    check_position_against_policy(PositionPolicy(), Decimal("0.00000001"), "TRY")


def test_policy_id_is_deterministic_per_institution_and_region() -> None:
    institution = uuid4()
    assert policy_id(institution, Region.US) == policy_id(institution, Region.US)
    assert policy_id(institution, Region.US) != policy_id(institution, Region.SG)
    assert policy_id(institution, Region.US) != policy_id(uuid4(), Region.US)


def test_unknown_limits_are_refused_not_ignored() -> None:
    import pytest

    from escrowgrid.domain.errors import ValidationError
    from escrowgrid.domain.policies import parse_position_policy

    with pytest.raises(ValidationError) as caught:
        parse_position_policy({"maxAmmount": "5"})
    assert [d.field for d in caught.value.details] == ["position.maxAmmount"]
