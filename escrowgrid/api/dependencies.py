"""What a route handler or guard may ask for besides its parameters: the actor, a connection."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.di import Provide
from psycopg import AsyncConnection

from escrowgrid.api.services import Services
from escrowgrid.application.context import Actor


def actor_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Actor:
    """The caller the auth middleware decided (every route but the open ones has one)."""
    actor = connection.scope.get("state", {}).get("actor")
    assert isinstance(actor, Actor), "the auth middleware runs before every route"
    return actor


def services_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Services:
    """The process's services, for guards (which get no dependencies)."""
    services = connection.app.state.services
    assert isinstance(services, Services)
    return services


def app_state(services: Services) -> State:
    return State({"services": services})


async def provide_actor(request: Request[Any, Any, Any]) -> Actor:
    return actor_of(request)


async def provide_conn(services: Services) -> AsyncIterator[AsyncConnection[Any]]:
    """A pooled connection for the handler's reads, back in the pool once it has answered.

    On the replica when one is configured and may serve the query (services.read_pool).
    """
    async with services.read_pool().connection() as conn:
        yield conn


# The names are reserved: a handler parameter `actor` or `conn` is one of these, never a query.
DEPENDENCIES = {
    "actor": Provide(provide_actor),
    "conn": Provide(provide_conn),
}
