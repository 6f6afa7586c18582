"""Who may do what: the tenant, admin, root and read-only rules, each with its one refusal.

Pure: the API's guards and the command handlers ask these; none of them does any I/O.
"""

from __future__ import annotations

from uuid import UUID

from escrowgrid.application.context import Actor, ActorRole
from escrowgrid.application.errors import Forbidden
from escrowgrid.domain.errors import ValidationError

# One wording per rule, whichever layer refuses.
ANOTHER_INSTITUTION = "Forbidden: resource belongs to another institution"
ADMIN_REQUIRED = "Forbidden: an admin key of the institution is required"
ROOT_REQUIRED = "Forbidden: the root key is required"
READ_ONLY = "Forbidden: a read-only key may not write"

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def may_act_for(actor: Actor, institution_id: UUID) -> bool:
    """Root acts for every institution; an institution's key only for its own."""
    return actor.is_root or actor.institution_id == institution_id


def require_tenant(actor: Actor, institution_id: UUID) -> None:
    """Another institution's resource: 403, never its content."""
    if not may_act_for(actor, institution_id):
        raise Forbidden(ANOTHER_INSTITUTION)


def is_admin(actor: Actor) -> bool:
    """Root, or an admin key (of its own institution: pair with `require_tenant`)."""
    return actor.is_root or actor.role is ActorRole.ADMIN


def require_admin(actor: Actor) -> None:
    if not is_admin(actor):
        raise Forbidden(ADMIN_REQUIRED)


def require_root(actor: Actor) -> None:
    if not actor.is_root:
        raise Forbidden(ROOT_REQUIRED)


def may_write(actor: Actor, method: str) -> bool:
    """A read-only key may read anything its institution may, and write nothing."""
    return actor.role is not ActorRole.READ_ONLY or method not in WRITE_METHODS


def require_writer(actor: Actor, method: str) -> None:
    if not may_write(actor, method):
        raise Forbidden(READ_ONLY)


def own_scope(actor: Actor) -> UUID | None:
    """The institution whose data the actor sees: its own, or None (every one) for root."""
    return None if actor.is_root else actor.institution_id


def list_scope(actor: Actor, named: UUID | None) -> UUID | None:
    """A list's institution: root's choice (all when unnamed); a key's own, whatever it named.

    `named` has passed `require_tenant` already, so for a key it is its own or None.
    """
    return named if actor.is_root else actor.institution_id


def acting_for(actor: Actor, named: UUID | None) -> UUID:
    """The institution a write is for: the one named, else the key's own; root must name one."""
    if named is not None:
        require_tenant(actor, named)
        return named
    if actor.is_root:
        raise ValidationError.single("institutionId", "is required with the root key")
    assert actor.institution_id is not None
    return actor.institution_id


def require_filter(actor: Actor, value: object | None, field: str) -> None:
    """Reads root may make across every institution: a key must name what it reads."""
    if value is None and not actor.is_root:
        raise ValidationError.single(field, "is required for institution keys")
