"""Connection pools for the service, healing by themselves after a database restart."""

from __future__ import annotations

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

# How long a request waits for a connection before it is answered 503 (Retry-After).
CHECKOUT_TIMEOUT_S = 5.0


async def _configure(conn: AsyncConnection) -> None:
    # Every timestamp leaves the database in UTC.
    await conn.execute("SET TIME ZONE 'UTC'")


def open_pool(
    conninfo: str, *, min_size: int = 2, max_size: int = 20, name: str = "escrowgrid"
) -> AsyncConnectionPool:
    """A pool whose broken connections are dropped when returned and replaced in the background.

    No check query on every checkout: it would cost a round trip per query. After a database
    restart each stale connection fails once (a 503), then the pool has fresh ones.
    """
    return AsyncConnectionPool(
        conninfo,
        min_size=min_size,
        max_size=max_size,
        open=False,
        configure=_configure,
        # Reads need no transaction; writers open one explicitly. This also spares every
        # returned connection the ROLLBACK a pool sends after an implicit transaction.
        kwargs={"autocommit": True},
        reconnect_timeout=86_400.0,  # a database outage must not permanently shrink the pool
        timeout=CHECKOUT_TIMEOUT_S,
        name=name,
    )


def redact(conninfo: str) -> str:
    """The connection string with its password hidden, for messages and logs."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    try:
        parts = conninfo_to_dict(conninfo)
    except Exception:
        return "<unparsable DATABASE_URL>"
    if "password" in parts:
        parts["password"] = "***"  # noqa: S105 - the mask, not a password
    return make_conninfo("", **parts)
