"""Request parameters and tenancy for reads: ids, times, pages, which institution a key sees."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from litestar.params import Parameter

from escrowgrid.command_context import Actor, Forbidden, NotFound
from escrowgrid.domain.errors import ValidationError


def path_id(value: str, what: str) -> UUID:
    """An id from the path; one that cannot exist is simply not found."""
    try:
        return UUID(value)
    except ValueError:
        raise NotFound(f"{what} not found") from None


def query_id(value: str | None, field: str) -> UUID | None:
    """An id from the query string; a malformed one is a validation error."""
    if value is None:
        return None
    try:
        return UUID(value)
    except ValueError:
        raise ValidationError.single(field, "must be a UUID") from None


Limit = Annotated[int, Parameter(ge=1, le=1000, query="limit")]
Offset = Annotated[int, Parameter(ge=0, query="offset")]
InstitutionId = Annotated[str | None, Parameter(query="institutionId")]


def query_time(value: str | None, field: str) -> datetime | None:
    """An ISO 8601 time with a zone from the query string; a malformed one is a 400."""
    if value is None:
        return None
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError.single(field, "must be an ISO 8601 date-time") from None
    if at.tzinfo is None:
        raise ValidationError.single(field, "must carry a time zone (e.g. Z)")
    return at


def ensure_visible(actor: Actor, institution_id: UUID) -> None:
    """Another institution's resource: 403, never its content."""
    if not actor.may_act_for(institution_id):
        raise Forbidden("Forbidden: resource belongs to another institution")


def institution_filter(actor: Actor, requested: UUID | None) -> UUID | None:
    """Root sees what it asks for (all by default); a key sees its own institution only."""
    if actor.is_root:
        return requested
    if requested is not None and requested != actor.institution_id:
        raise Forbidden("Forbidden: resource belongs to another institution")
    return actor.institution_id


def acting_institution(actor: Actor, given: UUID | None) -> UUID:
    """The institution a write is for: root must name it; a key writes for its own."""
    if actor.is_root:
        if given is None:
            raise ValidationError.single("institutionId", "is required with the root key")
        return given
    if given is not None and given != actor.institution_id:
        raise Forbidden("Forbidden: resource belongs to another institution")
    assert actor.institution_id is not None
    return actor.institution_id
