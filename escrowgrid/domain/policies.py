"""Institution position policies: parsing the contract body and checking new positions."""

from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from uuid import UUID, uuid5

from escrowgrid.domain.currencies import parse_currency
from escrowgrid.domain.errors import ErrorCollector, FieldError, PolicyViolation
from escrowgrid.domain.money import format_amount, parse_amount
from escrowgrid.domain.vocabulary import Region

# Fixed forever: changing it would orphan every stored policy aggregate.
POLICY_NAMESPACE = UUID("6f1c1f5e-2f0a-5b8e-9a57-3c1e0e5d7a10")


@dataclass(frozen=True)
class PositionPolicy:
    """Limits an institution puts on positions opened in one region; None means no limit."""

    min_amount: Decimal | None = None
    max_amount: Decimal | None = None
    allowed_currencies: tuple[str, ...] | None = None

    def to_config(self) -> dict[str, object]:
        """The contract's `position` object, omitting absent limits; amounts as Decimal."""
        config: dict[str, object] = {}
        if self.min_amount is not None:
            config["minAmount"] = self.min_amount
        if self.max_amount is not None:
            config["maxAmount"] = self.max_amount
        if self.allowed_currencies is not None:
            config["allowedCurrencies"] = list(self.allowed_currencies)
        return config


_POLICY_FIELDS = frozenset({"minAmount", "maxAmount", "allowedCurrencies"})


def parse_position_policy(obj: object) -> PositionPolicy:
    """Parse `{"minAmount"?, "maxAmount"?, "allowedCurrencies"?}`; errors name "position.*".

    Amounts follow money.parse_amount; allowedCurrencies must be a non-empty list of
    known codes (duplicates are dropped, order kept).
    """
    errors = ErrorCollector()
    if not isinstance(obj, dict):
        errors.add("position", "must be an object")
        errors.raise_if_any()
    assert isinstance(obj, dict)
    for unknown in sorted(set(obj) - _POLICY_FIELDS, key=str):
        # A misspelt limit silently ignored would be a limit not enforced.
        errors.add(
            f"position.{unknown}", "is not a known limit (minAmount, maxAmount, allowedCurrencies)"
        )
    min_amount = max_amount = None
    if obj.get("minAmount") is not None:
        min_amount = errors.check(lambda: parse_amount(obj["minAmount"], "position.minAmount"))
    if obj.get("maxAmount") is not None:
        max_amount = errors.check(lambda: parse_amount(obj["maxAmount"], "position.maxAmount"))
    if min_amount is not None and max_amount is not None and min_amount > max_amount:
        errors.add("position.minAmount", "must be less than or equal to position.maxAmount")
    currencies = _parse_currency_list(obj.get("allowedCurrencies"), errors)
    errors.raise_if_any()
    return PositionPolicy(min_amount, max_amount, currencies)


def _parse_currency_list(value: object, errors: ErrorCollector) -> tuple[str, ...] | None:
    field = "position.allowedCurrencies"
    if value is None:
        return None
    if not isinstance(value, list):
        errors.add(field, "must be a list of currency codes")
        return None
    if not value:
        errors.add(field, "must not be empty; omit it to allow every currency")
        return None
    parsed: list[str] = []
    for index, item in enumerate(value):
        code = errors.check(partial(parse_currency, item, f"{field}[{index}]"))
        if code is not None and code not in parsed:
            parsed.append(code)
    return tuple(parsed)


def check_position_against_policy(policy: PositionPolicy, amount: Decimal, currency: str) -> None:
    """Raise PolicyViolation listing every limit the position breaks."""
    details: list[FieldError] = []
    if policy.min_amount is not None and amount < policy.min_amount:
        details.append(
            FieldError("amount", f"is below the policy minimum {format_amount(policy.min_amount)}")
        )
    if policy.max_amount is not None and amount > policy.max_amount:
        details.append(
            FieldError("amount", f"is above the policy maximum {format_amount(policy.max_amount)}")
        )
    if policy.allowed_currencies is not None and currency not in policy.allowed_currencies:
        allowed = ", ".join(policy.allowed_currencies)
        details.append(FieldError("currency", f"is not allowed by policy (allowed: {allowed})"))
    if details:
        raise PolicyViolation(details)


def policy_id(institution_id: UUID, region: Region) -> UUID:
    """The one policy aggregate id for an institution and region, stable across processes."""
    return uuid5(POLICY_NAMESPACE, f"{institution_id}:{Region(region).value}")
