"""Inline projection: positions and the ledger feed written in the append transaction."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any
from uuid import uuid4

import psycopg
import pytest
from prometheus_client import REGISTRY

from escrowgrid.application.ledger import Ledger
from escrowgrid.application.postgres_store import PostgresEventStore
from escrowgrid.bootstrap import projection_runner
from escrowgrid.eventlog.appender import Appender
from escrowgrid.eventlog.loader import StreamLoader
from escrowgrid.eventlog.records import AppendRequest, PendingEvent
from escrowgrid.verify import compare_models
from projections.framework.payloads import POSITION_CREATED, POSITION_CREATED_VERSION
from projections.ledger_events.queries import list_ledger_events
from projections.positions.queries import get_position
from projections.registry import INLINE, UnknownProjection
from projections.runner.runner import ProjectionRunner
from projections.runner.waiting import ProjectionWaiter
from tests.support.ledger import ROOT_CTX, open_ledger, open_position, seed

INLINE_NAMES = [p.name for p in INLINE]


async def tracked(conn: psycopg.AsyncConnection[Any]) -> dict[str, int]:
    cur = await conn.execute("SELECT name, position FROM projection_tracking")
    return dict(await cur.fetchall())


def test_a_command_is_visible_at_once_with_no_runner_anywhere(database_url: str) -> None:
    """Read-your-writes for positions and the feed needs no projector at all."""

    async def body() -> None:
        async with open_ledger(database_url) as r:
            fx = await seed(r.ledger)
            pid = await open_position(r.ledger, fx, amount="10")
            await r.ledger.move_position(ROOT_CTX, pid, to_state="FUNDED")
            moved = await r.ledger.move_position(
                ROOT_CTX, pid, to_state="PARTIALLY_RELEASED", amount=Decimal("2.5")
            )
            async with r.pool.connection() as conn:
                view = await get_position(conn, pid)
                feed = await list_ledger_events(conn, position_id=pid, institution_id=None)
                positions = await tracked(conn)
        assert view is not None and view.state == "PARTIALLY_RELEASED"
        assert view.released_amount == Decimal("2.5") and len(view.events) == 2
        assert [e.kind for e in feed] == ["POSITION_CREATED"] + ["POSITION_STATE_CHANGED"] * 2
        assert all(positions[name] == moved.position for name in INLINE_NAMES)

    asyncio.run(body())


def test_inline_catches_up_a_log_an_earlier_writer_left_and_equals_a_rebuild(
    database_url: str,
) -> None:
    """Events appended without inline projection (an earlier version's writer) are projected
    by the next inline append, once, and the rows equal a rebuild from the log."""

    async def body() -> None:
        async with open_ledger(database_url) as r:
            fx = await seed(r.ledger)
            old_appender = Appender(r.pool)  # no inline projector: the tracking stays behind
            await old_appender.start()
            old = Ledger(PostgresEventStore(r.pool, old_appender, StreamLoader(r.pool)))
            try:
                earlier = [await open_position(old, fx, amount=f"{i + 1}.5") for i in range(3)]
                await old.move_position(ROOT_CTX, earlier[0], to_state="FUNDED")
            finally:
                await old_appender.stop()
            async with r.pool.connection() as conn:
                assert await get_position(conn, earlier[0]) is None  # not projected yet
            pid = await open_position(r.ledger, fx, amount="7")
            last = await r.ledger.move_position(ROOT_CTX, pid, to_state="FUNDED")
            async with r.pool.connection() as conn:
                views = [await get_position(conn, p) for p in [*earlier, pid]]
                positions = await tracked(conn)
        assert all(v is not None for v in views)
        assert views[0] is not None and views[0].state == "FUNDED"
        assert all(positions[name] == last.position for name in INLINE_NAMES)
        # The followed models were never projected here: bring them up, then compare all.
        runner = ProjectionRunner(database_url, lock_interval=0.1)
        waiter = ProjectionWaiter()
        await runner.start()
        await waiter.start(database_url)
        try:
            assert await waiter.wait_for(last.position or 0, timeout=10)
        finally:
            await waiter.stop()
            await runner.stop()
        assert await compare_models(database_url) is None

    asyncio.run(body())


def test_inline_rows_differing_from_a_rebuild_are_found(database_url: str) -> None:
    """Guard: the comparison the tests above rely on sees a row inline projection got wrong."""

    async def body() -> None:
        async with open_ledger(database_url) as r:
            fx = await seed(r.ledger)
            pid = await open_position(r.ledger, fx, amount="10")
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            await conn.execute(
                "UPDATE ledger_events SET new_state = 'FUNDED' WHERE position_id = %s", (pid,)
            )
        found = await compare_models(database_url)
        assert found is not None and found.table == "ledger_events"

    asyncio.run(body())


def test_the_runner_leaves_the_inline_models_to_the_appends(database_url: str) -> None:
    assert not {p.name for p in ProjectionRunner(database_url).projections} & set(INLINE_NAMES)
    assert {
        p.name for p in projection_runner(database_url, ["positions", "assets"]).projections
    } == {"assets"}
    with pytest.raises(UnknownProjection, match="projected inline"):
        projection_runner(database_url, ["positions"])


def test_concurrent_appends_project_each_event_once(database_url: str) -> None:
    """Many commands in flight share append batches; every position row and feed row is there
    once, and the tracking position is the head of the log."""

    async def body() -> None:
        async with open_ledger(database_url) as r:
            fx = await seed(r.ledger)

            async def one(i: int) -> None:
                pid = await open_position(r.ledger, fx, amount=f"{i + 1}")
                await r.ledger.move_position(ROOT_CTX, pid, to_state="FUNDED")

            await asyncio.gather(*(one(i) for i in range(40)))
            async with r.pool.connection() as conn:
                counts = await (await conn.execute(
                    "SELECT (SELECT count(*) FROM positions WHERE state = 'FUNDED'),"
                    " (SELECT count(*) FROM ledger_events), (SELECT max(position) FROM events)"
                )).fetchone()  # fmt: skip
                positions = await tracked(conn)
        assert counts is not None and counts[:2] == (40, 80)
        assert all(positions[name] == counts[2] for name in INLINE_NAMES)

    asyncio.run(body())


def test_a_payload_newer_than_the_read_side_stops_the_inline_models(database_url: str) -> None:
    """The database refuses a Position.Created of a class_version it does not know, as the
    runner's decoder does: the event is kept, the models stay behind and are counted failing."""

    async def body() -> None:
        async with open_ledger(database_url) as r:
            fx = await seed(r.ledger)
            pid = await open_position(r.ledger, fx, amount="3")
            async with r.pool.connection() as conn:
                cur = await conn.execute(
                    "SELECT state FROM events WHERE stream_id = %s AND version = 1", (pid,)
                )
                row = await cur.fetchone()
                before = await tracked(conn)
            assert row is not None
            newer = {**json.loads(bytes(row[0])), "class_version": POSITION_CREATED_VERSION + 1}
            failures = REGISTRY.get_sample_value(
                "escrowgrid_projection_failures_total", {"projection": "positions"}
            )
            event = PendingEvent(uuid4(), 1, POSITION_CREATED, json.dumps(newer).encode())
            done = await r.appender.append(AppendRequest([event], fx.institution_id, {"a": "v3"}))
            async with r.pool.connection() as conn:
                after = await tracked(conn)
                kept = await (await conn.execute(
                    "SELECT count(*) FROM events WHERE stream_id = %s", (event.stream_id,)
                )).fetchone()  # fmt: skip
                projected = await get_position(conn, event.stream_id)
        assert done.last_position is not None and kept == (1,) and projected is None
        assert all(after[name] == before[name] < done.last_position for name in INLINE_NAMES)
        counted = REGISTRY.get_sample_value(
            "escrowgrid_projection_failures_total", {"projection": "positions"}
        )
        assert (counted or 0) > (failures or 0)

    asyncio.run(body())
