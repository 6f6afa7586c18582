"""Connection pools for the service, healing by themselves after a database restart."""

from __future__ import annotations

import select
from time import monotonic

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

# How long a request waits for a connection before it is answered 503 (Retry-After).
CHECKOUT_TIMEOUT_S = 5.0


async def _configure(conn: AsyncConnection) -> None:
    # Every timestamp leaves the database in UTC.
    await conn.execute("SET TIME ZONE 'UTC'")


def _closed_by_server(conn: AsyncConnection) -> bool:
    # An idle pooled connection is sent nothing unasked (none of them LISTENs): input waiting
    # means the server closed it, or said why it did. poll, not select: a busy process may hold
    # descriptors past FD_SETSIZE.
    if conn.closed:
        return True
    probe = select.poll()
    probe.register(conn.fileno(), select.POLLIN)
    return bool(probe.poll(0))


class _CheckedPool(AsyncConnectionPool):
    """Hands out no connection the server has closed, at the cost of one poll a checkout."""

    async def getconn(self, timeout: float | None = None) -> AsyncConnection:
        deadline = monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            conn = await super().getconn(max(0.0, deadline - monotonic()))
            if not _closed_by_server(conn):
                return conn
            # Closed, it is dropped on return and a new one connected in the background; the
            # next idle one is tried at once (the pool's own check would back off a second).
            await conn.close()
            await self.putconn(conn)


def open_pool(
    conninfo: str, *, min_size: int = 2, max_size: int = 20, name: str = "escrowgrid"
) -> AsyncConnectionPool:
    """A pool that drops broken connections on checkout and return and replaces them itself.

    No check query on a checkout (a round trip each): a connection the server closed (a restart,
    a terminated backend) is seen by a poll of its socket, so it never fails a request.
    """
    return _CheckedPool(
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
