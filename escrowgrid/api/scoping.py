"""Tenancy for reads: ids from paths, and which institution a key may look at."""

from __future__ import annotations

from uuid import UUID

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
