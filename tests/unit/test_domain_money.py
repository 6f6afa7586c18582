"""Amounts: accepted types and literals, range, precision, exactness and rendering."""

from decimal import Decimal

import pytest

from escrowgrid.domain.errors import ValidationError
from escrowgrid.domain.money import (
    MAX_AMOUNT,
    add_money,
    decimal_places,
    format_amount,
    parse_amount,
    subtract_money,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("12.50"), "12.50"),
        ("12.50", "12.50"),
        (1, "1"),
        ("1", "1"),
        ("007", "7"),
        ("0.00000001", "1E-8"),
        (Decimal("0.00000001"), "1E-8"),
        (10**15, "1000000000000000"),
        ("1000000000000000", "1000000000000000"),
        (MAX_AMOUNT, "1000000000000000"),
        ("999999999999999.99999999", "999999999999999.99999999"),
        (Decimal("1E+3"), "1000"),
        (Decimal("1.000000000"), "1.00000000"),
    ],
)
def test_valid_amounts_are_kept_exact(value: object, expected: str) -> None:
    parsed = parse_amount(value, "amount")
    assert type(parsed) is Decimal
    assert str(parsed) == expected


def test_trailing_zeros_survive() -> None:
    parsed = parse_amount("12.50", "amount")
    assert parsed == Decimal("12.5")
    assert parsed.as_tuple().exponent == -2


@pytest.mark.parametrize(
    "value",
    [
        0,
        "0",
        "0.00000000",
        Decimal(0),
        Decimal("-0"),
        -1,
        "-1",
        "-0.5",
        Decimal("-0.00000001"),
        MAX_AMOUNT + Decimal("0.00000001"),
        "1000000000000000.00000001",
        10**15 + 1,
        Decimal("1E+16"),
        "0.000000001",
        "1.123456789",
        Decimal("0.000000001"),
        Decimal("1E-9"),
    ],
)
def test_out_of_range_or_too_precise_amounts_are_rejected(value: object) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_amount(value, "amount")
    assert [detail.field for detail in caught.value.details] == ["amount"]


@pytest.mark.parametrize(
    "value",
    [
        1.5,
        1.0,
        0.1,
        float("nan"),
        float("inf"),
        True,
        False,
        Decimal("NaN"),
        Decimal("sNaN"),
        Decimal("Infinity"),
        Decimal("-Infinity"),
        "1e5",
        "1E5",
        "1.5e2",
        "+1",
        " 1",
        "1 ",
        "1,000",
        "1.",
        ".5",
        "",
        "abc",
        "NaN",
        "Infinity",
        "0x10",
        "1_000",
        "\u0661",  # ARABIC-INDIC DIGIT ONE
        "1" * 65,
        None,
        [],
        {},
        b"1",
    ],
)
def test_non_decimal_inputs_are_rejected(value: object) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_amount(value, "position.minAmount")
    assert caught.value.details[0].field == "position.minAmount"


def test_float_rejection_says_why() -> None:
    with pytest.raises(ValidationError) as caught:
        parse_amount(1.5, "amount")
    assert "float" in caught.value.details[0].message


@pytest.mark.parametrize(
    ("value", "rendered"),
    [
        (Decimal("12.50"), "12.5"),
        (Decimal("1000000000000000"), "1000000000000000"),
        (Decimal("1E+15"), "1000000000000000"),
        (Decimal("1E-8"), "0.00000001"),
        (Decimal("100"), "100"),
        (Decimal("100.00"), "100"),
        (Decimal("0"), "0"),
        (Decimal("0.000"), "0"),
        (Decimal("123.45600000"), "123.456"),
    ],
)
def test_format_amount_is_plain(value: Decimal, rendered: str) -> None:
    assert format_amount(value) == rendered


def test_arithmetic_is_exact() -> None:
    total = Decimal(0)
    for _ in range(10):
        total = add_money(total, Decimal("0.1"))
    assert total == Decimal("1")
    assert subtract_money(MAX_AMOUNT, Decimal("0.00000001")) == Decimal("999999999999999.99999999")


@pytest.mark.parametrize(
    ("value", "places"),
    [(Decimal("1"), 0), (Decimal("1.50"), 1), (Decimal("1E+3"), 0), (Decimal("0.00000001"), 8)],
)
def test_decimal_places_ignores_trailing_zeros(value: Decimal, places: int) -> None:
    assert decimal_places(value) == places
