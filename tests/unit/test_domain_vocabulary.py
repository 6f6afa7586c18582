"""Vocabulary parsers, currency and country codes, and free-text checks."""

from collections.abc import Callable

import pytest

from escrowgrid.domain.countries import ISO_COUNTRIES, parse_country
from escrowgrid.domain.currencies import ISO_CURRENCIES, parse_currency
from escrowgrid.domain.errors import ValidationError
from escrowgrid.domain.text import parse_optional_text, parse_text
from escrowgrid.domain.vocabulary import (
    ApiKeyRole,
    PositionState,
    Region,
    Vertical,
    parse_api_key_role,
    parse_position_state,
    parse_region,
    parse_vertical,
)

_CONTRACT_CURRENCY_LIST = (
    "USD EUR GBP JPY CHF CAD AUD NZD CNY HKD SGD INR MXN BRL ZAR AED SAR KRW TWD THB MYR IDR "
    "PHP VND PLN SEK NOK DKK CZK HUF ILS TRY"
)
CONTRACT_CURRENCIES = _CONTRACT_CURRENCY_LIST.split()


def test_contract_vocabularies() -> None:
    assert [r.value for r in Region] == ["US", "EU_UK", "SG", "UAE"]
    assert [v.value for v in Vertical] == ["CONSTRUCTION", "TRADE_FINANCE"]
    assert [r.value for r in ApiKeyRole] == ["admin", "read_only"]
    assert {s.value for s in PositionState} == {
        "CREATED",
        "FUNDED",
        "PARTIALLY_RELEASED",
        "RELEASED",
        "CANCELLED",
        "EXPIRED",
    }


@pytest.mark.parametrize(
    ("parse", "good", "bad"),
    [
        (parse_region, "EU_UK", ["eu_uk", "EU", "", "UK"]),
        (parse_vertical, "TRADE_FINANCE", ["trade_finance", "RETAIL"]),
        (parse_api_key_role, "read_only", ["READ_ONLY", "owner"]),
        (parse_position_state, "PARTIALLY_RELEASED", ["funded", "CLOSED"]),
    ],
)
def test_enum_parsers(parse: Callable[[object, str], object], good: str, bad: list[str]) -> None:
    assert parse(good, "f") == good
    for value in [*bad, None, 1, ["US"]]:
        with pytest.raises(ValidationError) as caught:
            parse(value, "some.field")
        assert caught.value.details[0].field == "some.field"


def test_parsers_return_enum_members() -> None:
    assert parse_region("SG", "region") is Region.SG
    assert parse_region(Region.UAE, "region") is Region.UAE


@pytest.mark.parametrize("code", CONTRACT_CURRENCIES)
def test_contract_currencies_are_known(code: str) -> None:
    assert code in ISO_CURRENCIES
    assert parse_currency(code, "currency") == code


@pytest.mark.parametrize("value", ["usd", "Usd", "US", "USDT", "XXX", "ABC", "", " USD", 840, None])
def test_bad_currencies(value: object) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_currency(value, "config.currency")
    assert caught.value.details[0].field == "config.currency"


def test_country_codes() -> None:
    assert len(ISO_COUNTRIES) == 250
    for code in ["US", "GB", "SG", "AE", "DE", "CN", "XK"]:
        assert parse_country(code, "country") == code
    for bad in ["sg", "SGP", "", None, "ZZ", "UK", "S1", 1]:
        with pytest.raises(ValidationError):
            parse_country(bad, "country")


def test_text_rules() -> None:
    assert parse_text("x" * 255, "name", max_length=255) == "x" * 255
    assert parse_text("  padded  ", "name", max_length=255) == "  padded  "
    for bad in ["", "   ", "x" * 256, 5, None, "a\x00b", "\ud800"]:
        with pytest.raises(ValidationError) as caught:
            parse_text(bad, "name", max_length=255)
        assert caught.value.details[0].field == "name"
    assert parse_text("", "reason", max_length=10, allow_blank=True) == ""
    assert parse_optional_text(None, "reason", max_length=10) is None
