"""The event table: immutable in the database itself, hash-chained, and verifiable."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from escrowgrid.eventlog.chain import ChainVerifier, verify_stream
from escrowgrid.eventlog.reader import read_after, stream_records
from tests.support.cluster import PgCluster
from tests.support.ledger import open_ledger, open_position, seed


def _superuser(cluster: PgCluster, dsn: str) -> psycopg.Connection:
    dbname = psycopg.conninfo.conninfo_to_dict(dsn)["dbname"]
    return psycopg.connect(cluster.dsn(str(dbname), user="postgres"), autocommit=True)


def _populate(dsn: str) -> None:
    async def go() -> None:
        async with open_ledger(dsn) as r:
            fx = await seed(r.ledger)
            await open_position(r.ledger, fx)

    asyncio.run(go())


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE events SET topic = 'x' WHERE position = 1",
        "UPDATE events SET state = '\\x00'::bytea",
        "DELETE FROM events WHERE position = 1",
        "DELETE FROM events",
        "TRUNCATE events",
        "TRUNCATE events CASCADE",
    ],
)
def test_the_database_refuses_to_change_events(
    cluster: PgCluster, database_url: str, statement: str
) -> None:
    _populate(database_url)
    for conn in (psycopg.connect(database_url, autocommit=True), _superuser(cluster, database_url)):
        with conn, pytest.raises(psycopg.errors.InsufficientPrivilege, match="immutable"):
            conn.execute(statement)
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM events").fetchone() == (4,)


def test_every_stream_chain_verifies(database_url: str) -> None:
    _populate(database_url)

    async def check() -> None:
        async with open_ledger(database_url) as r, r.pool.connection() as conn:
            events = await read_after(conn, 0)
            assert [e.position for e in events] == [1, 2, 3, 4]
            verifier = ChainVerifier()
            for event in events:
                assert verifier.feed(event) is None
                assert (event.prev_hash is None) == (event.version == 1)
            assert verifier.count == 4 and len(verifier.digest) == 32

    asyncio.run(check())


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("state", "convert_to(replace(convert_from(state, 'UTF8'), '1000', '9000'), 'UTF8')"),
        ("meta", "jsonb_set(meta, '{actorKeyId}', '\"someone-else\"')"),
        ("topic", "topic || 'X'"),
        ("hash", "sha256(hash)"),
    ],
)
def test_tampering_is_named_by_the_chain_check(
    cluster: PgCluster, database_url: str, column: str, value: str
) -> None:
    _populate(database_url)

    async def setup_moves() -> object:
        async with open_ledger(database_url) as r, r.pool.connection() as conn:
            first = (await read_after(conn, 3, 1))[0]
            from escrowgrid.application.context import ROOT, CommandContext

            ctx = CommandContext(ROOT)
            await r.ledger.move_position(ctx, first.stream_id, to_state="FUNDED")
            await r.ledger.move_position(ctx, first.stream_id, to_state="RELEASED")
            return first.stream_id

    stream_id = asyncio.run(setup_moves())
    with _superuser(cluster, database_url) as su:
        # Only a superuser who switches the guard off can do this; the chain still tells.
        su.execute("ALTER TABLE events DISABLE TRIGGER events_no_update_delete")
        su.execute(
            f"UPDATE events SET {column} = {value} WHERE stream_id = %s AND version = 1",
            (stream_id,),
        )
        su.execute("ALTER TABLE events ENABLE TRIGGER events_no_update_delete")
        tampered_position = su.execute(
            "SELECT position FROM events WHERE stream_id = %s AND version = 1", (stream_id,)
        ).fetchone()

    async def verify() -> None:
        async with open_ledger(database_url) as r, r.pool.connection() as conn:
            records = await stream_records(conn, stream_id)  # type: ignore[arg-type]
        broken = verify_stream(records)
        assert broken is not None
        assert tampered_position is not None
        assert broken.position == tampered_position[0]
        assert str(tampered_position[0]) in str(broken)

    asyncio.run(verify())
