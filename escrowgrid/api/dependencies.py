"""What a route handler or guard may ask for besides its parameters: the actor, a connection."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

import psycopg
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.di import Provide
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from escrowgrid.api.replica_retry import PRIMARY_ONLY, REPLICA_FAILED
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


async def provide_actor(request: Request[Any, Any, Any], services: Services) -> Actor:
    """After `services` on purpose: Litestar resolves the providers of one dependency level
    concurrently (an anyio task group, a task each, on every request); one a level is inline."""
    return actor_of(request)


@asynccontextmanager
async def read_connection(
    request: ASGIConnection[Any, Any, Any, Any], services: Services
) -> AsyncIterator[AsyncConnection[Any]]:
    """A pooled connection for a request's reads: on the replica when one is configured and may
    serve them (services.read_pool). If a query fails there on a broken connection,
    api/replica_retry.py runs the request again on the primary."""
    state: dict[str, Any] = cast("dict[str, Any]", request.scope).setdefault("state", {})
    retry = state.get(PRIMARY_ONLY)
    pool = retry if isinstance(retry, AsyncConnectionPool) else services.read_pool()
    async with pool.connection() as conn:
        try:
            yield conn
        except psycopg.OperationalError:
            if pool is not services.pool:
                state[REPLICA_FAILED] = True
                state[PRIMARY_ONLY] = services.replica_failed()
            raise


async def provide_conn(
    request: Request[Any, Any, Any], services: Services, actor: Actor
) -> AsyncIterator[AsyncConnection[Any]]:
    """The handler's read connection, back in the pool once it has answered; taken after
    `actor` so that each dependency level has one provider (see provide_actor)."""
    async with read_connection(request, services) as conn:
        yield conn


# The names are reserved: a handler parameter `actor` or `conn` is one of these, never a query.
DEPENDENCIES = {
    "actor": Provide(provide_actor),
    "conn": Provide(provide_conn),
}
