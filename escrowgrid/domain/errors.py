"""Domain exceptions; each maps to one kind of client-facing failure."""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


class DomainError(Exception):
    """Base class of every error raised by the domain layer."""


@dataclass(frozen=True)
class FieldError:
    """One problem with one input field, addressed by a dotted path."""

    field: str
    message: str


class ValidationError(DomainError):
    """Input rejected; `details` lists every field problem found."""

    def __init__(self, details: Iterable[FieldError]) -> None:
        self.details: list[FieldError] = list(details)
        super().__init__("Validation failed")

    @classmethod
    def single(cls, field: str, message: str) -> "ValidationError":
        """Build an error about exactly one field."""
        return cls([FieldError(field, message)])


class PolicyViolation(ValidationError):
    """A position breaks its institution's policy (still a 400 with details)."""


class ForbiddenTransition(DomainError):
    """The lifecycle does not allow moving between these two states."""

    def __init__(self, from_state: str, to_state: str) -> None:
        self.from_state = from_state
        self.to_state = to_state
        super().__init__(f"Cannot transition position from {from_state} to {to_state}")


class TenancyViolation(DomainError):
    """A resource of one institution was used on behalf of another."""


class KeyNotFound(DomainError):
    """The API key does not exist or is already revoked."""

    def __init__(self, key_id: str) -> None:
        self.key_id = key_id
        super().__init__(f"API key {key_id} not found")


class ErrorCollector:
    """Gathers field errors from several checks so they are reported together."""

    def __init__(self) -> None:
        self.details: list[FieldError] = []

    def check(self, parse: Callable[[], T]) -> T | None:
        """Run `parse`; on ValidationError keep its details and return None."""
        try:
            return parse()
        except ValidationError as error:
            self.details.extend(error.details)
            return None

    def add(self, field: str, message: str) -> None:
        """Record one problem."""
        self.details.append(FieldError(field, message))

    def raise_if_any(self) -> None:
        """Raise one ValidationError holding everything collected so far."""
        if self.details:
            raise ValidationError(self.details)
