"""Rebuild beside the live tables and swap; verify: chains, digest, read models, export."""

from __future__ import annotations

import asyncio
import io
import json
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import uuid4

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from escrowgrid.eventlog.records import AppendRequest, PendingEvent
from escrowgrid.verify import compare_models, parse_digest, verify
from escrowgrid.verify import main as verify_main
from projections.framework.base import ProjectionError
from projections.framework.payloads import POSITION_CREATED, POSITION_MOVED
from projections.rebuilding import offline_check, scratch
from projections.rebuilding.building import ScratchBuild
from projections.rebuilding.rebuild import rebuild
from projections.registry import ALL, select
from projections.runner.runner import ProjectionRunner
from projections.runner.waiting import ProjectionWaiter
from tests.support.cluster import PgCluster
from tests.support.ledger import ROOT_CTX, Running, open_ledger, open_position, seed

READ_TABLES = [t for p in ALL for t in p.tables]


async def commands(r: Running, rounds: int) -> int:
    """A little of everything; returns the last log position."""
    fx = await seed(r.ledger)
    last = 0
    for i in range(rounds):
        pid = await open_position(r.ledger, fx, amount=f"{100 + i}.25")
        await r.ledger.move_position(ROOT_CTX, pid, to_state="FUNDED", metadata={"i": i})
        out = await r.ledger.move_position(
            ROOT_CTX, pid, to_state="PARTIALLY_RELEASED", amount=Decimal("0.25")
        )
        if i % 3 == 0:
            key = await r.ledger.issue_api_key(ROOT_CTX, fx.institution_id, label="k", role="admin")
            assert key.value is not None
            out = await r.ledger.revoke_api_key(ROOT_CTX, fx.institution_id, key.value.record.id)
        if i % 4 == 0:
            out = await r.ledger.set_policy(
                ROOT_CTX, fx.institution_id, region="US", position={"maxAmount": f"{10_000 + i}"}
            )
        last = out.position or last
    return last


async def catalog(conn: psycopg.AsyncConnection[Any]) -> list[tuple[Any, ...]]:
    """What a swap must preserve: columns, constraints, indexes, storage of each read table."""
    cur = await conn.execute(
        """
        SELECT c.relname, c.relpersistence, coalesce(c.reloptions, '{}'),
               (SELECT array_agg(format('%%s %%s %%s %%s', a.attname,
                       format_type(a.atttypid, a.atttypmod), a.attnotnull,
                       pg_get_expr(d.adbin, d.adrelid)) ORDER BY a.attnum)
                  FROM pg_attribute a LEFT JOIN pg_attrdef d
                    ON d.adrelid = a.attrelid AND d.adnum = a.attnum
                 WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),
               (SELECT array_agg(conname || ' ' || pg_get_constraintdef(oid) ORDER BY conname)
                  FROM pg_constraint WHERE conrelid = c.oid),
               (SELECT array_agg(pg_get_indexdef(indexrelid) ORDER BY indexrelid::regclass::text)
                  FROM pg_index WHERE indrelid = c.oid)
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relname = ANY(%s) ORDER BY c.relname
        """,
        (READ_TABLES,),
    )
    return list(await cur.fetchall())


async def schemas(conn: psycopg.AsyncConnection[Any]) -> list[str]:
    cur = await conn.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'eg\\_%'")
    return [n for (n,) in await cur.fetchall()]


def test_rebuild_while_serving_swaps_in_identical_tables(database_url: str) -> None:
    """Writers and the live runner keep going while every read model is rebuilt twice; the
    swapped-in tables have the same structure and, once caught up, equal a fresh rebuild."""

    async def body() -> None:
        runner = ProjectionRunner(database_url, lock_interval=0.2, batch_size=50)
        waiter = ProjectionWaiter()
        await runner.start()
        await waiter.start(database_url)
        async with (
            open_ledger(database_url) as r,
            await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn,
        ):
            await commands(r, 10)
            before = await catalog(conn)
            writing = asyncio.create_task(commands(r, 25))
            first = await rebuild(database_url, show_progress=False, batch_size=20)
            second = await rebuild(database_url, ["positions", "audit_events"], batch_size=7)
            last = await writing
            assert await waiter.wait_for(last, timeout=10)
            assert await catalog(conn) == before
            assert await schemas(conn) == []  # scratch and retired tables are gone
            assert first.names == [p.name for p in ALL] and first.events > 0
            assert second.names == ["positions", "audit_events"]
            assert await compare_models(database_url) is None
            cur = await conn.execute("SELECT count(*) FROM position_lifecycle")
            # Two transitions per position; the creation is not a lifecycle row.
            assert (await cur.fetchone()) == (35 * 2,)
        await waiter.stop()
        await runner.stop()

    asyncio.run(body())


def test_an_interrupted_rebuild_resumes_and_never_touches_live_tables(database_url: str) -> None:
    async def body() -> None:
        runner = ProjectionRunner(database_url, lock_interval=0.2)
        waiter = ProjectionWaiter()
        await runner.start()
        await waiter.start(database_url)
        async with (
            open_ledger(database_url) as r,
            await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn,
        ):
            last = await commands(r, 12)
            assert await waiter.wait_for(last, timeout=10)
            await runner.stop()  # nothing changes the live tables now but the rebuild
            snapshot = await (await conn.execute("SELECT * FROM positions ORDER BY id")).fetchall()
            wanted = select(["positions", "ledger_events"])
            async with ScratchBuild(database_url, wanted, "rebuild", batch_size=5) as build:
                await build.prepare(resume=True)
                await build.catch_up(last // 2)  # ...and the process dies here
            assert sorted(await schemas(conn)) == [
                "eg_rebuild_ledger_events",
                "eg_rebuild_positions",
            ]
            assert (
                await (await conn.execute("SELECT * FROM positions ORDER BY id")).fetchall()
                == snapshot
            )
            # One copy came back empty (as unlogged tables do after a crash): that one restarts.
            await conn.execute("TRUNCATE eg_rebuild_ledger_events.scratch_info")
            report = await rebuild(
                database_url, ["positions", "ledger_events"], show_progress=False
            )
            assert report.resumed == ["positions"]
            assert report.position == last
            assert await schemas(conn) == []
            assert await compare_models(database_url) is None
        await waiter.stop()

    asyncio.run(body())


# -- verify --------------------------------------------------------------------------------------


def admin_dsn(cluster: PgCluster, database_url: str) -> str:
    return cluster.dsn(conninfo_to_dict(database_url)["dbname"], user="postgres")


def prepare(database_url: str, rounds: int = 6) -> int:
    """Commands, projected by a runner that is then stopped."""

    async def body() -> int:
        runner = ProjectionRunner(database_url, lock_interval=0.2)
        waiter = ProjectionWaiter()
        await runner.start()
        await waiter.start(database_url)
        async with open_ledger(database_url) as r:
            last = await commands(r, rounds)
        assert await waiter.wait_for(last, timeout=10)
        await waiter.stop()
        await runner.stop()
        return last

    return asyncio.run(body())


def run_verify(dsn: str, digest: str | None = None, export: Path | None = None) -> tuple[int, str]:
    out = io.StringIO()
    code = verify_main(
        dsn, digest=digest, export_path=None if export is None else str(export), out=out
    )
    return code, out.getvalue()


def test_verify_passes_then_names_a_tampered_read_row(database_url: str) -> None:
    last = prepare(database_url)
    code, text = run_verify(database_url)
    assert code == 0, text
    assert f"up to position {last}" in text and "read models equal a rebuild" in text
    with psycopg.connect(database_url, autocommit=True) as conn:
        pid = conn.execute("SELECT id FROM positions ORDER BY id LIMIT 1").fetchone()
        assert pid is not None
        conn.execute("UPDATE positions SET released_amount = 1.5 WHERE id = %s", pid)
    code, text = run_verify(database_url)
    assert code == 1
    assert f"FAIL read model positions (id={pid[0]}): released_amount: live 1.5" in text
    assert "remaining_amount" in text


def test_verify_names_the_first_tampered_event(cluster: PgCluster, database_url: str) -> None:
    prepare(database_url)
    with psycopg.connect(admin_dsn(cluster, database_url), autocommit=True) as conn:
        target = conn.execute(
            "SELECT position FROM events ORDER BY position LIMIT 1 OFFSET 7"
        ).fetchone()
        assert target is not None
        conn.execute("ALTER TABLE events DISABLE TRIGGER events_no_update_delete")
        conn.execute(
            'UPDATE events SET meta = meta || \'{"clientAddr": "6.6.6.6"}\' WHERE position = %s',
            target,
        )
        conn.execute("ALTER TABLE events ENABLE TRIGGER events_no_update_delete")
    code, text = run_verify(database_url)
    assert code == 1
    assert f"FAIL hash chain: event at position {target[0]}" in text
    assert "hash does not match the event's content" in text


def test_verify_checks_a_published_digest(database_url: str) -> None:
    last = prepare(database_url)

    async def digest_at(position: int) -> str:
        report = await verify(database_url, expected=(position, bytes(32)), show_progress=False)
        return report.chain.digest_at[position].hex()

    middle = asyncio.run(digest_at(last // 2))
    assert run_verify(database_url, f"{last // 2}:{middle}")[0] == 0
    code, text = run_verify(database_url, f"{last // 2}:{'0' * 64}")
    assert code == 1 and f"FAIL published digest {last // 2}:" in text and middle in text
    code, text = run_verify(database_url, f"{last + 5}:{middle}")
    assert code == 1 and "the log ends before" in text
    assert run_verify(database_url, "12:nothex")[0] == 2
    with pytest.raises(ValueError, match="POSITION:HASH"):
        parse_digest("abc")


def test_an_export_can_be_checked_offline(database_url: str, tmp_path: Path) -> None:
    last = prepare(database_url)
    export = tmp_path / "ledger.jsonl"
    code, text = run_verify(database_url, export=export)
    assert code == 0, text
    lines = export.read_text().splitlines()
    assert len(lines) == last
    count, position, digest = offline_check.check(lines)
    assert (count, position) == (last, last)
    assert f"ledger digest at {last}: {digest.hex()}" in text
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT position, digest FROM ledger_digest").fetchone()
    assert row == (last, digest)  # the projector's digest, as GET /ledger/digest serves it
    assert offline_check.check(lines, upto=3)[1] == 3
    tampered = json.loads(lines[4])
    tampered["meta"] = tampered["meta"].replace("root", "admin")
    with pytest.raises(ValueError, match=f"position {tampered['position']}: hash"):
        offline_check.check([*lines[:4], json.dumps(tampered), *lines[5:]])
    assert offline_check.main([str(export)]) == 0


def test_scratch_copies_are_resumable_only_when_complete(database_url: str) -> None:
    async def body() -> None:
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            projection = select(["policies"])[0]
            schema = scratch.schema_name("rebuild", projection)
            assert await scratch.state(conn, projection, schema) is None
            await scratch.create(conn, projection, schema)
            found = await scratch.state(conn, projection, schema)
            assert found is not None and (found.position, found.indexed) == (0, False)
            await conn.execute(f"UPDATE {schema}.scratch_info SET schema_version = 1")
            assert await scratch.state(conn, projection, schema) is None  # older schema
            await scratch.drop(conn, schema)
            assert await schemas(conn) == []

    asyncio.run(body())


def test_the_bulk_path_builds_what_the_live_path_builds(database_url: str) -> None:
    """Positions are rebuilt from empty in set-based SQL: the edge cases of the payloads must
    come out exactly as the live path writes them (compare_models rebuilds that way)."""

    async def body() -> None:
        runner = ProjectionRunner(database_url, lock_interval=0.2, batch_size=3)
        waiter = ProjectionWaiter()
        await runner.start()
        await waiter.start(database_url)
        async with open_ledger(database_url) as r:
            fx = await seed(r.ledger)
            pid = await open_position(r.ledger, fx, amount="10.5")
            odd = {
                "d": Decimal("1.50"), "e": Decimal("-1E+3"), "n": [Decimal("0.1"), 2, None],
                "s": '{"_data_": "1", "_type_": "decimal_str"}', "t": "_type_", "deep": {"x": {}},
                '{"_data_": "': '", "_type_": "decimal_str"}',
            }  # fmt: skip
            await r.ledger.move_position(ROOT_CTX, pid, to_state="FUNDED", metadata=odd)
            await r.ledger.move_position(
                ROOT_CTX, pid, to_state="PARTIALLY_RELEASED", amount=Decimal("0.25"), reason=""
            )
            out = await r.ledger.move_position(ROOT_CTX, pid, to_state="RELEASED", metadata={})
            other = await open_position(r.ledger, fx, amount="1")
            last = await r.ledger.move_position(ROOT_CTX, other, to_state="EXPIRED")
            # A v1 payload, from before external_reference existed.
            async with r.pool.connection() as conn:
                cur = await conn.execute(
                    "SELECT state FROM events WHERE stream_id = %s AND version = 1", (other,)
                )
                row = await cur.fetchone()
            assert row is not None and out.position is not None
            body_v1 = json.loads(bytes(row[0]))
            del body_v1["external_reference"], body_v1["class_version"]
            old = PendingEvent(uuid4(), 1, POSITION_CREATED, json.dumps(body_v1).encode())
            done = await r.appender.append(AppendRequest([old], fx.institution_id, {"a": "v1"}))
            assert await waiter.wait_for(done.last_position or 0, timeout=10)
            assert last.position is not None
        await waiter.stop()
        await runner.stop()
        assert await compare_models(database_url) is None
        async with await psycopg.AsyncConnection.connect(database_url) as conn:
            cur = await conn.execute(
                "SELECT metadata::text FROM position_lifecycle WHERE position_id = %s AND seq = 2",
                (pid,),
            )
            stored = await cur.fetchone()
            assert stored is not None
            assert json.loads(stored[0], parse_float=Decimal) == {**odd, "e": -1000}

    asyncio.run(body())


def test_the_bulk_path_refuses_what_the_live_path_refuses(database_url: str) -> None:
    async def body() -> None:
        async with open_ledger(database_url) as r:
            await seed(r.ledger)
            moved = {
                "timestamp": {"_type_": "datetime_iso", "_data_": "2026-01-01T00:00:00+00:00"},
                "entry_id": "e", "from_state": "CREATED", "to_state": "FUNDED", "reason": None,
                "metadata": None, "released": {"_type_": "decimal_str", "_data_": "0"},
            }  # fmt: skip
            # A well-formed move of a stream whose first event opened no position.
            move = PendingEvent(uuid4(), 2, POSITION_MOVED, json.dumps(moved).encode())
            orphan = AppendRequest(
                [PendingEvent(move.stream_id, 1, "test:Other", b"{}"), move], None, {}
            )
            await r.appender.append(orphan)
        with pytest.raises(ProjectionError, match="moves of positions the log never opened"):
            await rebuild(database_url, ["positions"], show_progress=False)
        async with await psycopg.AsyncConnection.connect(database_url) as conn:
            assert await (await conn.execute("SELECT count(*) FROM positions")).fetchone() == (0,)

    asyncio.run(body())
