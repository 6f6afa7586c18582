"""Tenancy against the read models: 404 for what does not exist, then the access rules' 403."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from uuid import UUID

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from escrowgrid.api.params import INSTITUTION, Kind, named_id
from escrowgrid.application import access
from escrowgrid.application.context import Actor
from projections import ownership

T = TypeVar("T")


def _owner(found: Any) -> UUID:
    owner: UUID = found.institution_id
    return owner


async def visible_or_404(
    lookup: Awaitable[T | None],
    actor: Actor,
    kind: Kind,
    owner: Callable[[T], UUID] = _owner,
) -> T:
    """What a lookup found, if the actor may see it: 404 when nothing, 403 another's."""
    found = await lookup
    if found is None:
        raise kind.not_found()
    access.require_tenant(actor, owner(found))
    return found


async def visible(conn: AsyncConnection[Any], actor: Actor, kind: Kind, id: UUID) -> None:
    """404 when the resource does not exist, 403 when another institution owns it."""
    await visible_or_404(ownership.owner_of(conn, kind.table, id), actor, kind, lambda owner: owner)


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
    return access.list_scope(actor, named)


async def acting_institution(pool: AsyncConnectionPool, actor: Actor, given: str | None) -> UUID:
    """The institution a write is for: root must name it; a key writes for its own."""
    named = None
    if given is not None:
        # Briefly: a write handler holds no connection while its command runs.
        async with pool.connection() as conn:
            named = await filter_id(conn, actor, given, "institutionId", INSTITUTION)
    return access.acting_for(actor, named)
