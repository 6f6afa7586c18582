"""Checks for free-text fields: type, length and characters storage cannot hold."""

from escrowgrid.domain.errors import ValidationError


def text_problem(value: str) -> str | None:
    """Say why `value` cannot be stored as text, or None when it can."""
    if "\x00" in value:
        # PostgreSQL text and jsonb refuse NUL, so it would poison a projection.
        return "must not contain NUL characters"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "must be valid Unicode (no lone surrogates)"
    return None


def parse_text(
    value: object,
    field: str,
    *,
    max_length: int,
    allow_blank: bool = False,
) -> str:
    """Return `value` unchanged if it is a storable string of 1..max_length characters.

    With allow_blank, empty and whitespace-only strings are accepted too.
    """
    if not isinstance(value, str):
        raise ValidationError.single(field, "must be a string")
    if not allow_blank and not value.strip():
        raise ValidationError.single(field, "must not be blank")
    if len(value) > max_length:
        raise ValidationError.single(field, f"must be at most {max_length} characters")
    problem = text_problem(value)
    if problem is not None:
        raise ValidationError.single(field, problem)
    return value


def parse_optional_text(
    value: object,
    field: str,
    *,
    max_length: int,
    allow_blank: bool = False,
) -> str | None:
    """Like parse_text, but None passes through as None."""
    if value is None:
        return None
    return parse_text(value, field, max_length=max_length, allow_blank=allow_blank)
