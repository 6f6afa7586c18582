"""Idempotency keys live at least 24 hours; older ones are purged."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import psycopg
import pytest

from escrowgrid.eventlog.retention import purge_idempotency_keys


def _key(conn: psycopg.Connection, key: str, age_hours: float) -> None:
    conn.execute(
        "INSERT INTO idempotency_keys (scope, key, request_hash, status, response, created_at)"
        " VALUES ('root', %s, '\\x00', 200, '{}', now() - %s)",
        (key, timedelta(hours=age_hours)),
    )


def test_purge_keeps_a_day_and_removes_older(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        _key(conn, "fresh", 1)
        _key(conn, "a-day", 25)
        _key(conn, "old", 49)

    async def purge() -> int:
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as c:
            return await purge_idempotency_keys(c)

    assert asyncio.run(purge()) == 1
    with psycopg.connect(database_url) as conn:
        left = sorted(r[0] for r in conn.execute("SELECT key FROM idempotency_keys"))
    assert left == ["a-day", "fresh"]


def test_retention_below_a_day_is_refused(database_url: str) -> None:
    async def purge() -> int:
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as c:
            return await purge_idempotency_keys(c, timedelta(hours=23))

    with pytest.raises(ValueError, match="at least"):
        asyncio.run(purge())
