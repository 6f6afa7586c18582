"""Asset template codes and the rules each code imposes on its config."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from escrowgrid.domain.countries import parse_country
from escrowgrid.domain.currencies import parse_currency
from escrowgrid.domain.errors import ErrorCollector, ValidationError
from escrowgrid.domain.metadata import validate_metadata
from escrowgrid.domain.money import parse_amount
from escrowgrid.domain.text import parse_text
from escrowgrid.domain.vocabulary import Region, Vertical, parse_region, parse_vertical

MAX_NAME_LENGTH = 255


class TemplateCode(StrEnum):
    """Kinds of asset template the platform knows."""

    CONSTR_ESCROW = "CONSTR_ESCROW"
    CONSTR_RETAINAGE = "CONSTR_RETAINAGE"
    TF_INVOICE = "TF_INVOICE"
    TF_LC = "TF_LC"


TEMPLATE_VERTICAL: Mapping[TemplateCode, Vertical] = {
    TemplateCode.CONSTR_ESCROW: Vertical.CONSTRUCTION,
    TemplateCode.CONSTR_RETAINAGE: Vertical.CONSTRUCTION,
    TemplateCode.TF_INVOICE: Vertical.TRADE_FINANCE,
    TemplateCode.TF_LC: Vertical.TRADE_FINANCE,
}


@dataclass(frozen=True)
class TemplateSpec:
    """A validated template definition; `config` is a deep copy of the input."""

    code: TemplateCode
    name: str
    vertical: Vertical
    region: Region
    config: dict[str, object]


def _is_number(value: object) -> bool:
    return isinstance(value, int | Decimal) and not isinstance(value, bool)


def _as_number(value: object) -> Decimal | None:
    """The value as an exact Decimal if it is an int or finite Decimal (never bool or float)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, Decimal) and value.is_finite():
        return value
    return None


def _check_config_amount(config: Mapping[str, object], key: str, errors: ErrorCollector) -> None:
    value = config.get(key)
    if value is None:
        return
    field = f"config.{key}"
    if not _is_number(value):
        errors.add(field, "must be a number")
        return
    errors.check(lambda: parse_amount(value, field))


def _check_positive_integer(
    config: Mapping[str, object], key: str, errors: ErrorCollector, *, required: bool
) -> None:
    value = config.get(key)
    field = f"config.{key}"
    if value is None:
        if required:
            errors.add(field, "is required")
        return
    number = _as_number(value)
    if number is None or number != number.to_integral_value():
        errors.add(field, "must be an integer")
    elif number <= 0:
        errors.add(field, "must be greater than 0")


def _check_currency(config: Mapping[str, object], errors: ErrorCollector) -> None:
    if config.get("currency") is None:
        errors.add("config.currency", "is required")
    else:
        errors.check(lambda: parse_currency(config["currency"], "config.currency"))


def _check_country(config: Mapping[str, object], key: str, errors: ErrorCollector) -> None:
    errors.check(lambda: parse_country(config.get(key), f"config.{key}"))


def _check_escrow(
    config: Mapping[str, object], region: Region | None, errors: ErrorCollector
) -> None:
    if config.get("region") is None:
        errors.add("config.region", "is required")
    else:
        config_region = errors.check(lambda: parse_region(config["region"], "config.region"))
        if config_region is not None and region is not None and config_region != region:
            errors.add("config.region", f"must equal the template region {region.value}")
    _check_config_amount(config, "minAmount", errors)
    _check_config_amount(config, "maxAmount", errors)
    low, high = config_amount_bounds(config)
    if low is not None and high is not None and low > high:
        errors.add("config.minAmount", "must be less than or equal to config.maxAmount")


def _check_retainage(
    config: Mapping[str, object], _: Region | None, errors: ErrorCollector
) -> None:
    value = config.get("retainagePercentage")
    field = "config.retainagePercentage"
    number = _as_number(value)
    if value is None:
        errors.add(field, "is required")
    elif number is None:
        errors.add(field, "must be a number")
    elif not 0 <= number <= 100:
        errors.add(field, "must be between 0 and 100")


def _check_invoice(config: Mapping[str, object], _: Region | None, errors: ErrorCollector) -> None:
    _check_positive_integer(config, "maxTenorDays", errors, required=True)
    _check_country(config, "country", errors)


def _check_letter_of_credit(
    config: Mapping[str, object], _: Region | None, errors: ErrorCollector
) -> None:
    _check_country(config, "issuingBankCountry", errors)
    _check_positive_integer(config, "maxTenorDays", errors, required=True)


_CODE_RULES: Mapping[
    TemplateCode, Callable[[Mapping[str, object], Region | None, ErrorCollector], None]
] = {
    TemplateCode.CONSTR_ESCROW: _check_escrow,
    TemplateCode.CONSTR_RETAINAGE: _check_retainage,
    TemplateCode.TF_INVOICE: _check_invoice,
    TemplateCode.TF_LC: _check_letter_of_credit,
}


def _check_onchain(config: Mapping[str, object], errors: ErrorCollector) -> None:
    onchain = config.get("onchain")
    if onchain is None:
        return
    if not isinstance(onchain, dict):
        errors.add("config.onchain", "must be an object")
        return
    if not isinstance(onchain.get("enabled"), bool):
        errors.add("config.onchain.enabled", "is required and must be a boolean")
    chain_id = onchain.get("chainId")
    if chain_id is not None and (
        not isinstance(chain_id, int) or isinstance(chain_id, bool) or chain_id <= 0
    ):
        errors.add("config.onchain.chainId", "must be a positive integer")


def parse_template_code(value: object, field: str) -> TemplateCode:
    """Parse an exact template code such as "TF_LC"."""
    if not isinstance(value, str):
        raise ValidationError.single(field, "must be a string")
    try:
        return TemplateCode(value)
    except ValueError:
        allowed = ", ".join(code.value for code in TemplateCode)
        raise ValidationError.single(field, f"must be one of: {allowed}") from None


def validate_template(
    code: object, name: object, vertical: object, region: object, config: object
) -> TemplateSpec:
    """Check a template definition, reporting every bad field at once.

    A missing config (None) is treated as {}; numbers in it must be int or Decimal.
    """
    errors = ErrorCollector()
    parsed_code = errors.check(lambda: parse_template_code(code, "code"))
    parsed_name = errors.check(lambda: parse_text(name, "name", max_length=MAX_NAME_LENGTH))
    parsed_vertical = errors.check(lambda: parse_vertical(vertical, "vertical"))
    parsed_region = errors.check(lambda: parse_region(region, "region"))
    if parsed_code is not None and parsed_vertical is not None:
        expected = TEMPLATE_VERTICAL[parsed_code]
        if parsed_vertical != expected:
            errors.add("vertical", f"{parsed_code.value} templates belong to vertical {expected}")
    raw_config = {} if config is None else config
    parsed_config = errors.check(lambda: validate_metadata(raw_config, "config"))
    if parsed_config is not None:
        _check_currency(parsed_config, errors)
        if parsed_code is not None:
            _CODE_RULES[parsed_code](parsed_config, parsed_region, errors)
        _check_onchain(parsed_config, errors)
    errors.raise_if_any()
    assert parsed_code is not None and parsed_name is not None
    assert parsed_vertical is not None and parsed_region is not None
    assert parsed_config is not None
    return TemplateSpec(parsed_code, parsed_name, parsed_vertical, parsed_region, parsed_config)


def _config_bound(config: Mapping[str, object], key: str) -> Decimal | None:
    value = config.get(key)
    if not _is_number(value):
        return None
    try:
        return parse_amount(value, f"config.{key}")
    except ValidationError:
        return None


def config_amount_bounds(config: Mapping[str, object]) -> tuple[Decimal | None, Decimal | None]:
    """The (minAmount, maxAmount) a template config imposes on positions; None when absent."""
    return _config_bound(config, "minAmount"), _config_bound(config, "maxAmount")


def config_onchain(config: Mapping[str, object]) -> tuple[bool, int | None]:
    """Whether on-chain mirroring is enabled for the template, and the chain id if given."""
    onchain = config.get("onchain")
    if not isinstance(onchain, dict):
        return False, None
    chain_id = onchain.get("chainId")
    valid_chain = isinstance(chain_id, int) and not isinstance(chain_id, bool)
    return onchain.get("enabled") is True, chain_id if valid_chain else None
