"""Template validation: each code's config rules, verticals, names, and error collection."""

from decimal import Decimal

import pytest

from escrowgrid.domain.errors import ValidationError
from escrowgrid.domain.templates import (
    TemplateCode,
    config_amount_bounds,
    config_onchain,
    validate_template,
)
from escrowgrid.domain.vocabulary import Region, Vertical
from tests.unit.domain_builders import VALID_CONFIGS, VERTICAL_OF

REQUIRED_KEYS = {
    "CONSTR_ESCROW": ["currency", "region"],
    "CONSTR_RETAINAGE": ["currency", "retainagePercentage"],
    "TF_INVOICE": ["currency", "maxTenorDays", "country"],
    "TF_LC": ["currency", "issuingBankCountry", "maxTenorDays"],
}

BAD_VALUES: dict[str, list[object]] = {
    "currency": ["usd", "XXX", 840, "", True],
    "region": ["EU_UK", "us", "MARS", 1],
    "retainagePercentage": [-1, 101, Decimal("100.01"), "10", True],
    "maxTenorDays": [0, -5, Decimal("1.5"), "30", True],
    "country": ["sg", "SGP", "", "ZZ", 65],
    "issuingBankCountry": ["ae", "ARE", "", "QQ", 971],
}


def fields_of(error: ValidationError) -> list[str]:
    return [detail.field for detail in error.details]


def define(code: str, config: object, **overrides: object) -> object:
    arguments: dict[str, object] = {
        "code": code,
        "name": "A template",
        "vertical": VERTICAL_OF.get(code, "CONSTRUCTION"),
        "region": "US",
        "config": config,
    }
    arguments.update(overrides)
    return validate_template(**arguments)


@pytest.mark.parametrize("code", list(VALID_CONFIGS))
def test_each_code_accepts_its_valid_config(code: str) -> None:
    spec = validate_template(code, "Name", VERTICAL_OF[code], "US", VALID_CONFIGS[code])
    assert spec.code is TemplateCode(code)
    assert spec.vertical is Vertical(VERTICAL_OF[code])
    assert spec.region is Region.US
    assert spec.config == VALID_CONFIGS[code]
    assert spec.config is not VALID_CONFIGS[code]


@pytest.mark.parametrize(
    ("code", "key"), [(code, key) for code, keys in REQUIRED_KEYS.items() for key in keys]
)
def test_each_required_config_key_is_required(code: str, key: str) -> None:
    config = {k: v for k, v in VALID_CONFIGS[code].items() if k != key}
    with pytest.raises(ValidationError) as caught:
        define(code, config)
    assert fields_of(caught.value) == [f"config.{key}"]


@pytest.mark.parametrize(
    ("code", "key", "value"),
    [
        (code, key, value)
        for code, keys in REQUIRED_KEYS.items()
        for key in keys
        for value in BAD_VALUES[key]
    ],
)
def test_each_config_key_rejects_bad_values(code: str, key: str, value: object) -> None:
    config = {**VALID_CONFIGS[code], key: value}
    with pytest.raises(ValidationError) as caught:
        define(code, config)
    assert fields_of(caught.value) == [f"config.{key}"]


@pytest.mark.parametrize("value", [0, 100, Decimal("12.5"), Decimal("0.0")])
def test_retainage_bounds_are_inclusive(value: object) -> None:
    define("CONSTR_RETAINAGE", {"currency": "EUR", "retainagePercentage": value})


def test_integral_decimal_tenor_is_accepted() -> None:
    define("TF_INVOICE", {**VALID_CONFIGS["TF_INVOICE"], "maxTenorDays": Decimal("30")})


@pytest.mark.parametrize(
    ("code", "vertical"),
    [
        (code, "TRADE_FINANCE" if v == "CONSTRUCTION" else "CONSTRUCTION")
        for code, v in VERTICAL_OF.items()
    ],
)
def test_code_with_wrong_vertical_is_rejected(code: str, vertical: str) -> None:
    with pytest.raises(ValidationError) as caught:
        define(code, VALID_CONFIGS[code], vertical=vertical)
    assert fields_of(caught.value) == ["vertical"]


def test_escrow_region_must_match_template_region() -> None:
    with pytest.raises(ValidationError) as caught:
        define("CONSTR_ESCROW", {"currency": "USD", "region": "SG"}, region="US")
    assert fields_of(caught.value) == ["config.region"]
    define("CONSTR_ESCROW", {"currency": "USD", "region": "SG"}, region="SG")


def test_escrow_amount_bounds() -> None:
    base = VALID_CONFIGS["CONSTR_ESCROW"]
    define("CONSTR_ESCROW", {**base, "minAmount": 100, "maxAmount": Decimal("1000.5")})
    define("CONSTR_ESCROW", {**base, "minAmount": 100, "maxAmount": 100})
    define("CONSTR_ESCROW", {**base, "maxAmount": 5})
    bad_configs: list[dict[str, object]] = [
        {"minAmount": 0},
        {"minAmount": "100"},
        {"maxAmount": -1},
        {"maxAmount": True},
    ]
    for bad in bad_configs:
        with pytest.raises(ValidationError) as caught:
            define("CONSTR_ESCROW", {**base, **bad})
        assert fields_of(caught.value) == [f"config.{next(iter(bad))}"]
    with pytest.raises(ValidationError) as caught:
        define("CONSTR_ESCROW", {**base, "minAmount": 200, "maxAmount": 100})
    assert fields_of(caught.value) == ["config.minAmount"]


def test_unknown_code_is_rejected() -> None:
    with pytest.raises(ValidationError) as caught:
        define("MYSTERY", {"currency": "USD"}, vertical="CONSTRUCTION")
    assert fields_of(caught.value) == ["code"]


@pytest.mark.parametrize("code", ["constr_escrow", "", None, 1])
def test_malformed_code_is_rejected(code: object) -> None:
    with pytest.raises(ValidationError) as caught:
        validate_template(code, "n", "CONSTRUCTION", "US", {"currency": "USD"})
    assert "code" in fields_of(caught.value)


@pytest.mark.parametrize("name", ["", "   ", "x" * 256, None, 3])
def test_bad_names(name: object) -> None:
    with pytest.raises(ValidationError) as caught:
        define("CONSTR_RETAINAGE", VALID_CONFIGS["CONSTR_RETAINAGE"], name=name)
    assert fields_of(caught.value) == ["name"]


def test_name_of_255_characters_is_fine() -> None:
    define("CONSTR_RETAINAGE", VALID_CONFIGS["CONSTR_RETAINAGE"], name="n" * 255)


def test_bad_vertical_and_region() -> None:
    with pytest.raises(ValidationError) as caught:
        define("TF_LC", VALID_CONFIGS["TF_LC"], vertical="RETAIL", region="MOON")
    assert fields_of(caught.value) == ["vertical", "region"]


def test_all_field_errors_are_collected() -> None:
    with pytest.raises(ValidationError) as caught:
        validate_template("TF_INVOICE", " ", "TRADE_FINANCE", "XX", {"currency": "usd"})
    assert fields_of(caught.value) == [
        "name",
        "region",
        "config.currency",
        "config.maxTenorDays",
        "config.country",
    ]
    assert str(caught.value) == "Validation failed"


def test_missing_config_means_empty_config() -> None:
    with pytest.raises(ValidationError) as caught:
        define("CONSTR_RETAINAGE", None)
    assert fields_of(caught.value) == ["config.currency", "config.retainagePercentage"]


@pytest.mark.parametrize("config", [[], "USD", 1])
def test_config_must_be_an_object(config: object) -> None:
    with pytest.raises(ValidationError) as caught:
        define("CONSTR_RETAINAGE", config)
    assert fields_of(caught.value) == ["config"]


def test_floats_anywhere_in_config_are_rejected() -> None:
    with pytest.raises(ValidationError) as caught:
        define("CONSTR_RETAINAGE", {"currency": "USD", "retainagePercentage": 10.5})
    assert fields_of(caught.value) == ["config"]


@pytest.mark.parametrize("value", [Decimal("NaN"), Decimal("Infinity")])
def test_non_finite_numbers_in_config_are_rejected(value: Decimal) -> None:
    with pytest.raises(ValidationError) as caught:
        define("TF_LC", {**VALID_CONFIGS["TF_LC"], "maxTenorDays": value})
    assert fields_of(caught.value) == ["config"]
    assert "config.maxTenorDays" in caught.value.details[0].message


def test_unknown_config_keys_are_kept() -> None:
    spec = validate_template(
        "TF_LC", "LC", "TRADE_FINANCE", "SG", {**VALID_CONFIGS["TF_LC"], "note": "x"}
    )
    assert spec.config["note"] == "x"


@pytest.mark.parametrize(
    "onchain",
    [{"enabled": True}, {"enabled": False, "chainId": 1}, {"enabled": True, "chainId": 137}],
)
def test_valid_onchain(onchain: dict[str, object]) -> None:
    define("TF_LC", {**VALID_CONFIGS["TF_LC"], "onchain": onchain})


@pytest.mark.parametrize(
    ("onchain", "field"),
    [
        ({}, "config.onchain.enabled"),
        ({"enabled": "yes"}, "config.onchain.enabled"),
        ({"enabled": True, "chainId": 0}, "config.onchain.chainId"),
        ({"enabled": True, "chainId": -1}, "config.onchain.chainId"),
        ({"enabled": True, "chainId": True}, "config.onchain.chainId"),
        ({"enabled": True, "chainId": "1"}, "config.onchain.chainId"),
        (True, "config.onchain"),
    ],
)
def test_bad_onchain(onchain: object, field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        define("TF_LC", {**VALID_CONFIGS["TF_LC"], "onchain": onchain})
    assert fields_of(caught.value) == [field]


def test_config_helpers() -> None:
    config: dict[str, object] = {
        "currency": "USD",
        "minAmount": 10,
        "maxAmount": Decimal("20.5"),
        "onchain": {"enabled": True, "chainId": 5},
    }
    assert config_amount_bounds(config) == (Decimal(10), Decimal("20.5"))
    assert config_onchain(config) == (True, 5)
    assert config_amount_bounds({}) == (None, None)
    assert config_onchain({}) == (False, None)
    assert config_onchain({"onchain": {"enabled": "true"}}) == (False, None)
