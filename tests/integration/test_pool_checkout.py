"""The service's pool never hands out a connection the server has closed (a restart, a terminated
backend), and never drops a healthy one for it."""

from __future__ import annotations

import asyncio
import contextlib

import psycopg

from escrowgrid.database import open_pool


def test_connections_the_server_closed_are_replaced_before_any_query_uses_them(
    database_url: str,
) -> None:
    async def go() -> None:
        pool = open_pool(database_url, min_size=3, max_size=3, name="checkout-test")
        await pool.open(wait=True)
        try:
            held = [await pool.getconn() for _ in range(3)]
            before = {conn.info.backend_pid for conn in held}
            for conn in held:
                await pool.putconn(conn)
            with psycopg.connect(database_url, autocommit=True) as admin:
                # Every backend of the pool, as a restart would end them.
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = ANY(%s)",
                    (list(before),),
                )
            await asyncio.sleep(0.2)  # the FIN reaches the client sockets
            after = set()
            for _ in range(6):  # more checkouts than the pool holds: every closed one is met
                async with pool.connection() as conn:
                    await conn.execute("SELECT 1")
                    after.add(conn.info.backend_pid)
            assert not before & after
        finally:
            await pool.close()

    asyncio.run(go())


def test_a_healthy_connection_is_kept_whatever_its_last_query_left(database_url: str) -> None:
    """Notices, large results, errors and transactions leave nothing that looks like a close."""

    async def go() -> None:
        pool = open_pool(database_url, min_size=1, max_size=1, name="checkout-quiet")
        await pool.open(wait=True)
        try:
            async with pool.connection() as conn:
                pid = conn.info.backend_pid
            statements = [
                "DO $$ BEGIN RAISE NOTICE 'hello'; END $$",
                "SELECT g, repeat('x', 100) FROM generate_series(1, 20000) g",
                "SELECT 1/0",
                "SET application_name = 'renamed'",
            ]
            for sql in statements * 3:
                async with pool.connection() as conn:
                    with contextlib.suppress(psycopg.errors.DivisionByZero):
                        await conn.execute(sql)
                async with pool.connection() as conn:
                    async with conn.transaction():
                        await conn.execute("SELECT 1")
                    assert conn.info.backend_pid == pid, sql
        finally:
            await pool.close()

    asyncio.run(go())
