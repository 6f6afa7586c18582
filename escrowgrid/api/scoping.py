"""Request parameters and tenancy: ids, times, pages, which institution a key sees or writes for."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from litestar.params import Parameter
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from escrowgrid.application.context import Actor
from escrowgrid.application.errors import Forbidden, NotFound
from escrowgrid.domain.errors import ValidationError
from projections import queries

# Ids are opaque to clients: any string may arrive where an id is expected. One that is not a
# UUID names nothing, like an unknown UUID, and gets the same answer. Only values no id could
# be (too long, control characters) are a 400 naming the field.
MAX_ID_LENGTH = 255
# OFFSET n makes PostgreSQL walk n rows: 10^9 is past any real list and far below bigint.
MAX_OFFSET = 10**9
# Log positions are bigint.
MAX_LOG_POSITION = 2**63 - 1


@dataclass(frozen=True, slots=True)
class Kind:
    """A kind of resource a client names by id: its read table and how an error calls it."""

    table: str
    what: str


INSTITUTION = Kind("institutions", "Institution")
ASSET_TEMPLATE = Kind("asset_templates", "Asset template")
ASSET = Kind("assets", "Asset")
POSITION = Kind("positions", "Position")


def path_id(value: str, kind: Kind) -> UUID:
    """An id from the path; one of any shape that cannot exist is simply not found."""
    try:
        return UUID(value)
    except ValueError:
        raise NotFound(f"{kind.what} not found") from None


def named_id(value: str, field: str, kind: Kind) -> UUID:
    """An id from a query or a body: one that names nothing is a 404, one no id could be a 400."""
    if len(value) > MAX_ID_LENGTH or not value.isprintable():
        raise ValidationError.single(field, f"must be at most {MAX_ID_LENGTH} printable characters")
    return path_id(value, kind)


async def visible(conn: AsyncConnection[Any], actor: Actor, kind: Kind, id: UUID) -> None:
    """404 when the resource does not exist, 403 when another institution owns it."""
    owner = await queries.owner_of(conn, kind.table, id)
    if owner is None:
        raise NotFound(f"{kind.what} not found")
    ensure_visible(actor, owner)


async def filter_id(
    conn: AsyncConnection[Any], actor: Actor, value: str | None, field: str, kind: Kind
) -> UUID | None:
    """A query filter naming a resource answers as the resource would: 404, 403, or its id."""
    if value is None:
        return None
    found = named_id(value, field, kind)
    await visible(conn, actor, kind, found)
    return found


async def institution_scope(
    conn: AsyncConnection[Any], actor: Actor, requested: str | None
) -> UUID | None:
    """The `institutionId` filter of a list: root's choice (all by default), else the key's own."""
    named = await filter_id(conn, actor, requested, "institutionId", INSTITUTION)
    return named if actor.is_root else actor.institution_id


Limit = Annotated[int, Parameter(ge=1, le=1000, query="limit")]
Offset = Annotated[int, Parameter(ge=0, le=MAX_OFFSET, query="offset")]
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


async def acting_institution(pool: AsyncConnectionPool, actor: Actor, given: str | None) -> UUID:
    """The institution a write is for: root must name it; a key writes for its own."""
    if given is not None:
        async with pool.connection() as conn:
            named = await filter_id(conn, actor, given, "institutionId", INSTITUTION)
        assert named is not None
        return named
    if actor.is_root:
        raise ValidationError.single("institutionId", "is required with the root key")
    assert actor.institution_id is not None
    return actor.institution_id
