"""Money amounts: exact Decimals, parsed strictly, never binary floats."""

import re
from decimal import (
    Context,
    Decimal,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
)

from escrowgrid.domain.errors import ValidationError

MAX_AMOUNT = Decimal(10) ** 15
AMOUNT_PLACES = 8
_QUANTUM = Decimal(1).scaleb(-AMOUNT_PLACES)

# Every amount has at most 16 integer and 8 fractional digits, so 34 digits never round;
# trapping Inexact turns any silent rounding into a loud error.
MONEY_CONTEXT = Context(prec=34, traps=[InvalidOperation, DivisionByZero, Overflow, Inexact])

_PLAIN_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_MAX_LITERAL_LENGTH = 64


def decimal_places(value: Decimal) -> int:
    """Number of significant fractional digits, ignoring trailing zeros."""
    if value.is_zero():
        return 0
    # From the digits themselves: normalize() in a fixed-precision context would round (or
    # trap) on literals with more significant digits than the context holds.
    _, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    trailing = 0
    for digit in reversed(digits):
        if digit != 0:
            break
        trailing += 1
    return max(0, -(exponent + trailing))


def _to_decimal(value: object, field: str) -> Decimal:
    if isinstance(value, bool):
        raise ValidationError.single(field, "must be a number, not a boolean")
    if isinstance(value, float):
        raise ValidationError.single(field, "must be a decimal, binary floats are not accepted")
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, str):
        if len(value) > _MAX_LITERAL_LENGTH or not _PLAIN_DECIMAL.fullmatch(value):
            raise ValidationError.single(
                field, 'must be a plain decimal literal such as "12.50" (no exponent)'
            )
        return Decimal(value)
    raise ValidationError.single(field, "must be a decimal number or a decimal string")


def check_amount(value: Decimal, field: str) -> Decimal:
    """Validate a Decimal amount and return it with a fractional exponent of at most 8 places."""
    if not value.is_finite():
        raise ValidationError.single(field, "must be a finite number")
    if value <= 0:
        raise ValidationError.single(field, "must be greater than 0")
    if value > MAX_AMOUNT:
        raise ValidationError.single(field, "must be at most 1000000000000000 (10^15)")
    if decimal_places(value) > AMOUNT_PLACES:
        raise ValidationError.single(field, f"must have at most {AMOUNT_PLACES} decimal places")
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)
    if exponent > 0:
        # "1E+3" becomes "1000" so that str() never renders an exponent.
        return value.quantize(Decimal(1), context=MONEY_CONTEXT)
    if exponent < -AMOUNT_PLACES:
        # Only trailing zeros lie beyond 8 places here, so this is exact.
        return value.quantize(_QUANTUM, context=MONEY_CONTEXT)
    return value


def parse_amount(value: object, field: str) -> Decimal:
    """Parse a Decimal, int or plain decimal string into an amount in (0, 10^15], <= 8 places.

    The value is kept exact: Decimal("12.50") stays 12.50.
    """
    return check_amount(_to_decimal(value, field), field)


def format_amount(value: Decimal) -> str:
    """Render plainly without exponent or trailing zeros, e.g. "12.5" or "1000000000000000"."""
    if value.is_zero():
        return "0"
    return format(value.normalize(MONEY_CONTEXT), "f")


def add_money(left: Decimal, right: Decimal) -> Decimal:
    """Exact sum; raises instead of rounding."""
    return MONEY_CONTEXT.add(left, right)


def subtract_money(left: Decimal, right: Decimal) -> Decimal:
    """Exact difference; raises instead of rounding."""
    return MONEY_CONTEXT.subtract(left, right)
