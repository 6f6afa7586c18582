"""Dedicated connections of the read side (never pool connections: they LISTEN or hold locks)."""

from __future__ import annotations

import contextlib
from typing import Any

from psycopg import AsyncConnection


async def connect(conninfo: str, application_name: str) -> AsyncConnection[Any]:
    """An autocommit connection in UTC, named so that `projections status` can say who it is."""
    conn = await AsyncConnection.connect(
        conninfo, autocommit=True, application_name=application_name
    )
    await conn.execute("SET TIME ZONE 'UTC'")
    return conn


async def close_quietly(conn: AsyncConnection[Any] | None) -> None:
    """Close a connection that may already be broken."""
    if conn is not None and not conn.closed:
        with contextlib.suppress(Exception):  # closing a dead connection fails harmlessly
            await conn.close()
