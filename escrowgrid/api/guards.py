"""Route guards: the access rules a route needs, checked before its body is read.

The read-only rule is not a guard: the auth middleware applies it to every write, before
rate limiting and routing (see auth.py).
"""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from escrowgrid.api.dependencies import actor_of, services_of
from escrowgrid.api.params import INSTITUTION, path_id
from escrowgrid.api.scoping import visible
from escrowgrid.application import access

Connection = ASGIConnection[Any, Any, Any, Any]
# Every guard is async, even those that never wait: Litestar runs a sync guard in a worker
# thread (a thread hop and a loop wake-up per request).


async def root_only(connection: Connection, _: BaseRouteHandler) -> None:
    access.require_root(actor_of(connection))


async def admin_key(connection: Connection, _: BaseRouteHandler) -> None:
    """Root or an admin key; what it may see is then its own institution's (a list's scope)."""
    access.require_admin(actor_of(connection))


async def institution_member(connection: Connection, _: BaseRouteHandler) -> None:
    """The path's institution `{id}`: 404 unknown, 403 another one's."""
    actor = actor_of(connection)
    iid = path_id(connection.path_params["id"], INSTITUTION)
    async with services_of(connection).pool.connection() as conn:
        await visible(conn, actor, INSTITUTION, iid)


async def institution_admin(connection: Connection, handler: BaseRouteHandler) -> None:
    """The path's institution, and an admin key of it (or root); unknown ids stay 404."""
    await institution_member(connection, handler)
    access.require_admin(actor_of(connection))
