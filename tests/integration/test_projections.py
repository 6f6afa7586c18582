"""Read models on a real PostgreSQL: what commands show, queries, indexes, waiting, failures."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import msgspec
import psycopg
import pytest
from prometheus_client import REGISTRY

from escrowgrid.api import answers
from escrowgrid.application.context import CommandContext
from escrowgrid.application.institutions import hash_api_key
from escrowgrid.eventlog.records import AppendRequest, PendingEvent
from projections.api_keys.queries import find_api_keys_by_hash, get_api_key, list_api_keys
from projections.asset_templates.queries import get_asset_template, list_asset_templates
from projections.assets.queries import get_asset, list_assets
from projections.audit_events.queries import list_audit_events
from projections.framework.payloads import POSITION_MOVED
from projections.framework.shapes import Pagination
from projections.institutions.queries import get_institution, list_institutions
from projections.ledger_events.queries import list_ledger_events
from projections.policies.queries import get_policy, list_policies
from projections.positions.queries import get_position, list_positions
from projections.runner.runner import PROJECTIONS_CHANNEL, ProjectionRunner
from projections.runner.signals import BUS
from projections.runner.waiting import ProjectionWaiter
from tests.support.ledger import ROOT_CTX, Running, open_ledger, open_position, seed

CTX = CommandContext(request_id="req-7", client_addr="10.0.0.7")


async def with_runner(
    dsn: str, body: Callable[[Running, ProjectionWaiter], Awaitable[Any]], **runner: Any
) -> Any:
    """A command layer, an in-process runner and a waiter on one database."""
    projector = ProjectionRunner(dsn, lock_interval=0.2, **runner)
    waiter = ProjectionWaiter()
    await projector.start()
    await waiter.start(dsn)
    try:
        async with open_ledger(dsn) as running:
            return await body(running, waiter)
    finally:
        await waiter.stop()
        await projector.stop()


def run(dsn: str, body: Callable[[Running, ProjectionWaiter], Awaitable[Any]], **kw: Any) -> Any:
    return asyncio.run(with_runner(dsn, body, **kw))


async def visible(waiter: ProjectionWaiter, position: int | None) -> None:
    assert position is not None
    assert await waiter.wait_for(position, timeout=10.0), f"position {position} not projected"


def test_read_models_show_what_commands_did(database_url: str) -> None:
    async def body(r: Running, waiter: ProjectionWaiter) -> None:
        fx = await seed(r.ledger)
        pid = await open_position(r.ledger, fx, amount="1000.00000001")
        await r.ledger.move_position(CTX, pid, to_state="FUNDED", metadata={"k": Decimal("1.50")})
        await r.ledger.move_position(
            CTX, pid, to_state="PARTIALLY_RELEASED", amount=Decimal("0.1"), reason="first"
        )
        moved = await r.ledger.move_position(
            CTX, pid, to_state="PARTIALLY_RELEASED", amount=Decimal("99.9")
        )
        await visible(waiter, moved.position)
        async with r.pool.connection() as conn:
            view = await get_position(conn, pid)
        assert view is not None
        assert (view.state, view.amount) == ("PARTIALLY_RELEASED", Decimal("1000.00000001"))
        assert view.released_amount == Decimal("100") and isinstance(view.released_amount, Decimal)
        assert view.remaining_amount == Decimal("900.00000001")
        assert [(e.from_state, e.to_state, e.amount) for e in view.events] == [
            ("CREATED", "FUNDED", None),
            ("FUNDED", "PARTIALLY_RELEASED", Decimal("0.1")),
            ("PARTIALLY_RELEASED", "PARTIALLY_RELEASED", Decimal("99.9")),
        ]
        assert view.events[0].metadata == {"k": Decimal("1.50")}
        assert view.events[1].reason == "first"
        aggregate = moved.value
        assert aggregate is not None
        assert view.updated_at == aggregate.updated_at and view.created_at == aggregate.created_at
        assert [e.id for e in view.events] == [e.id for e in aggregate.lifecycle]
        encoded = msgspec.json.decode(answers.encode(view))
        assert {"id", "institutionId", "assetId", "holderReference", "currency", "amount", "state",
                "createdAt", "updatedAt", "events", "releasedAmount", "remainingAmount"} <= set(
            encoded
        )  # fmt: skip
        assert "externalReference" not in encoded and encoded["events"][0]["fromState"] == "CREATED"

        async with r.pool.connection() as conn:
            feed = await list_ledger_events(conn, position_id=pid)
            everything = await list_ledger_events(conn)
        assert [(e.kind, e.previous_state, e.new_state) for e in feed] == [
            ("POSITION_CREATED", None, "CREATED"),
            ("POSITION_STATE_CHANGED", "CREATED", "FUNDED"),
            ("POSITION_STATE_CHANGED", "FUNDED", "PARTIALLY_RELEASED"),
            ("POSITION_STATE_CHANGED", "PARTIALLY_RELEASED", "PARTIALLY_RELEASED"),
        ]
        assert feed[0].payload is not None and feed[0].payload["amount"] == "1000.00000001"
        assert feed[2].payload == {"reason": "first", "metadata": None, "amount": "0.1"}
        assert [e.log_position for e in everything] == sorted(e.log_position for e in everything)

    run(database_url, body)


def test_institutions_keys_policies_templates_assets(database_url: str) -> None:
    async def body(r: Running, waiter: ProjectionWaiter) -> None:
        fx = await seed(r.ledger)
        other = await r.ledger.register_institution(ROOT_CTX, name="Other", regions=["EU_UK", "SG"])
        assert other.value is not None
        issued = await r.ledger.issue_api_key(CTX, fx.institution_id, label="ops", role="admin")
        kept = await r.ledger.issue_api_key(CTX, fx.institution_id, label="ro", role="read_only")
        assert issued.value is not None and kept.value is not None
        revoked = await r.ledger.revoke_api_key(CTX, fx.institution_id, issued.value.record.id)
        await r.ledger.set_policy(
            CTX, fx.institution_id, region="US",
            position={"minAmount": "1.5", "allowedCurrencies": ["USD", "EUR"]},
        )  # fmt: skip
        last = await r.ledger.set_policy(
            CTX, fx.institution_id, region="US", position={"maxAmount": "500"}
        )
        await visible(waiter, last.position)
        async with r.pool.connection() as conn:
            every = await list_institutions(conn, None)
            mine = await list_institutions(conn, fx.institution_id)
            institution = await get_institution(conn, fx.institution_id)
            keys = await list_api_keys(conn, fx.institution_id)
            gone = await get_api_key(conn, fx.institution_id, issued.value.record.id)
            kept_hash, gone_hash = hash_api_key(kept.value.token), hash_api_key(issued.value.token)
            by_hash = await find_api_keys_by_hash(conn, [kept_hash, gone_hash, "0" * 64])
            auth, auth_gone, unknown = (by_hash.get(h) for h in (kept_hash, gone_hash, "0" * 64))
            policies = await list_policies(conn, fx.institution_id)
            policy = await get_policy(conn, fx.institution_id, "US")
            no_policy = await get_policy(conn, fx.institution_id, "SG")
            templates = await list_asset_templates(conn, institution_id=fx.institution_id)
            template = await get_asset_template(conn, fx.template_id)
            assets = await list_assets(conn, template_id=fx.template_id)
            asset = await get_asset(conn, fx.asset_id)
            missing = await get_position(conn, uuid4())
        assert [i.id for i in every] == [fx.institution_id, other.value.id]  # oldest first
        assert [i.id for i in mine] == [fx.institution_id]
        assert every[1].regions == ["EU_UK", "SG"]
        assert institution is not None and revoked.value is not None
        assert institution.updated_at == revoked.value.revoked_at  # key events move updatedAt
        assert [(k.id, k.label, k.role) for k in keys] == [
            (kept.value.record.id, "ro", "read_only")
        ]
        assert gone is not None and gone.revoked_at == revoked.value.revoked_at
        assert auth is not None and (auth.institution_id, auth.role) == (
            fx.institution_id,
            "read_only",
        )
        assert auth.revoked_at is None
        assert auth_gone is not None and auth_gone.revoked_at is not None
        assert unknown is None and no_policy is None and missing is None
        assert policy is not None and policies == [policy]
        assert msgspec.json.decode(answers.encode(policy.config)) == {
            "region": "US",
            "position": {"maxAmount": "500"},
        }
        assert policy.updated_at > policy.created_at
        assert templates.pagination.total == 1 and template == templates.data[0]
        assert template is not None and template.config == {"currency": "USD", "region": "US"}
        assert assets.data == [asset] and asset is not None and asset.metadata == {}

    run(database_url, body)


def test_audit_events_one_row_per_command(database_url: str) -> None:
    async def body(r: Running, waiter: ProjectionWaiter) -> None:
        fx = await seed(r.ledger)
        started = datetime.now(UTC)
        pid = await open_position(r.ledger, fx, ctx=CTX)
        moved = await r.ledger.move_position(CTX, pid, to_state="FUNDED")
        await visible(waiter, moved.position)
        async with r.pool.connection() as conn:
            page = await list_audit_events(conn, institution_id=fx.institution_id)
            moves = await list_audit_events(conn, action="position.move")
            recent = await list_audit_events(conn, since=started, limit=1)
            none = await list_audit_events(conn, until=started - timedelta(days=1))
        assert [e.action for e in page.data] == [
            "institution.register", "asset_template.define", "asset.register",
            "position.open", "position.move",
        ]  # fmt: skip
        last = page.data[-1]
        assert (last.request_id, last.client_addr, last.actor_role) == ("req-7", "10.0.0.7", "root")
        assert last.position == moved.position and last.stream_ids == [pid]
        assert last.event_count == 1 and last.institution_id == fx.institution_id
        assert len({e.command_id for e in page.data} - {None}) == len(page.data)
        assert [e.id for e in moves.data] == [last.id]
        assert recent.pagination.total == 2 and recent.pagination.has_more
        assert none.pagination.total == 0 and none.data == []

    run(database_url, body)


def test_an_audit_row_spans_batches_when_a_command_does(database_url: str) -> None:
    """A command of several events split by a batch boundary still makes one row."""

    async def body(r: Running, waiter: ProjectionWaiter) -> None:
        fx = await seed(r.ledger)
        pid = uuid4()
        events = [PendingEvent(pid, v, "test:Noted", b"{}") for v in range(1, 6)]
        meta = {"action": "test.bulk", "requestId": "bulk-1"}
        done = await r.appender.append(AppendRequest(events, fx.institution_id, meta))
        await visible(waiter, done.last_position)
        async with r.pool.connection() as conn:
            page = await list_audit_events(conn, action="test.bulk")
        assert len(page.data) == 1
        row = page.data[0]
        assert row.event_count == 5 and row.stream_ids == [pid]
        assert (row.id, row.position) == (done.positions[0], done.positions[-1])

    run(database_url, body, batch_size=2)


def test_pagination_counts_and_filters(database_url: str) -> None:
    async def body(r: Running, waiter: ProjectionWaiter) -> None:
        fx = await seed(r.ledger)
        ids = [await open_position(r.ledger, fx) for _ in range(5)]
        other = await r.ledger.open_position(
            ROOT_CTX, fx.institution_id, asset_id=fx.asset_id, holder_reference="holder-2",
            currency="USD", amount="5",
        )  # fmt: skip
        await visible(waiter, other.position)
        async with r.pool.connection() as conn:
            first = await list_positions(conn, institution_id=fx.institution_id, limit=2)
            last = await list_positions(conn, institution_id=fx.institution_id, limit=2, offset=4)
            beyond = await list_positions(conn, limit=10, offset=50)
            holder = await list_positions(conn, holder_reference="holder-2")
            both = await list_positions(
                conn, asset_id=fx.asset_id, holder_reference="holder-1", limit=100
            )
            nobody = await list_positions(conn, institution_id=uuid4())
        assert [p.id for p in first.data] == ids[:2]
        assert first.pagination == Pagination(6, 2, 0, True)
        assert last.pagination == Pagination(6, 2, 4, False) and len(last.data) == 2
        assert beyond.data == [] and beyond.pagination.total == 6
        assert not beyond.pagination.has_more
        assert other.value is not None and [p.id for p in holder.data] == [other.value.id]
        assert [p.id for p in both.data] == ids
        assert all(p.events == [] for p in both.data)  # transitions only: none yet
        assert nobody.pagination.total == 0

    run(database_url, body)


# -- indexes ------------------------------------------------------------------------------


class Recorder:
    """A stand-in connection that records each statement a query function runs."""

    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self.conn = conn
        self.statements: list[tuple[Any, Any]] = []

    async def execute(self, query: Any, params: Any = None, **kw: Any) -> Any:
        self.statements.append((query, params))
        return await self.conn.execute(query, params, **kw)


LIST_QUERIES: list[tuple[str, Callable[[Any, UUID], Awaitable[Any]]]] = [
    ("institutions (all)", lambda c, i: list_institutions(c, None)),
    ("api keys", list_api_keys),
    ("api key by hash", lambda c, i: find_api_keys_by_hash(c, ["ab" * 32])),
    ("policies", list_policies),
    ("templates (all)", lambda c, i: list_asset_templates(c)),
    ("templates of", lambda c, i: list_asset_templates(c, institution_id=i)),
    ("assets (all)", lambda c, i: list_assets(c)),
    ("assets of", lambda c, i: list_assets(c, institution_id=i)),
    ("assets of template", lambda c, i: list_assets(c, template_id=i)),
    ("positions (all)", lambda c, i: list_positions(c)),
    ("positions of", lambda c, i: list_positions(c, institution_id=i)),
    ("positions of asset", lambda c, i: list_positions(c, asset_id=i)),
    ("positions of holder", lambda c, i: list_positions(c, holder_reference="h")),
    (
        "positions of institution and holder",
        lambda c, i: list_positions(c, institution_id=i, holder_reference="h"),
    ),
    ("ledger events (all)", lambda c, i: list_ledger_events(c)),
    ("ledger events of position", lambda c, i: list_ledger_events(c, position_id=i)),
    ("ledger events of", lambda c, i: list_ledger_events(c, institution_id=i)),
    ("audit (all)", lambda c, i: list_audit_events(c)),
    ("audit of", lambda c, i: list_audit_events(c, institution_id=i)),
    ("audit of action", lambda c, i: list_audit_events(c, action="position.move")),
    (
        "audit since",
        lambda c, i: list_audit_events(c, since=datetime(2020, 1, 1, tzinfo=UTC)),
    ),
    ("audit refused", lambda c, i: list_audit_events(c, outcome="refused")),
    (
        "audit accepted of",
        lambda c, i: list_audit_events(c, outcome="accepted", institution_id=i),
    ),
    (
        "audit of, late page",
        lambda c, i: list_audit_events(c, institution_id=i, limit=10, offset=500),
    ),
]


SORT_NODE = re.compile(r"^\s*(->\s+)?(Incremental )?Sort\s+\(", re.MULTILINE)


@pytest.mark.parametrize("name", [name for name, _ in LIST_QUERIES])
def test_every_list_query_is_served_by_an_index(database_url: str, name: str) -> None:
    """With sequential scans and sorts priced out, each statement's plan must still scan an
    index and not sort: an index exists that gives both the filter and the order."""
    query = dict(LIST_QUERIES)[name]

    async def body() -> None:
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            for setting in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
                await conn.execute(f"SET {setting} = off")
            recorder = Recorder(conn)
            await query(recorder, uuid4())
            assert recorder.statements
            for recorded, params in recorder.statements:
                statement = psycopg.sql.SQL(recorded) if isinstance(recorded, str) else recorded
                cur = await conn.execute(psycopg.sql.SQL("EXPLAIN ") + statement, params)
                plan = "\n".join(row[0] for row in await cur.fetchall())
                assert "Index" in plan, plan
                assert "Seq Scan" not in plan, plan
                # A Merge Append of index scans (the audit trail's union) names its "Sort Key"
                # but sorts nothing; a Sort node is what must not appear.
                assert not SORT_NODE.search(plan), plan

    asyncio.run(body())


# -- waiting ------------------------------------------------------------------------------


def test_waiter_wakes_on_notify_from_another_process_without_polling(database_url: str) -> None:
    async def body() -> None:
        waiter = ProjectionWaiter(["a", "b"])
        await waiter.start(database_url)
        try:
            assert await waiter.wait_for(0, timeout=0.01)
            pending = asyncio.create_task(waiter.wait_for(7, timeout=5.0))
            async with await psycopg.AsyncConnection.connect(
                database_url, autocommit=True
            ) as other:
                await other.execute("SELECT pg_notify(%s, %s)", (PROJECTIONS_CHANNEL, '{"a": 9}'))
                await asyncio.sleep(0.3)
                assert not pending.done()  # "b" has not passed 7 yet
                sent = time.perf_counter()
                await other.execute("SELECT pg_notify(%s, %s)", (PROJECTIONS_CHANNEL, '{"b": 7}'))
                assert await pending
                assert time.perf_counter() - sent < 0.1  # woken by the NOTIFY, not a poll
            assert waiter.reached == 7
            assert not await waiter.wait_for(8, timeout=0.2)  # times out, returns False
        finally:
            await waiter.stop()

    asyncio.run(body())


def test_waiter_wakes_on_the_in_process_signal(database_url: str) -> None:
    async def body() -> None:
        waiter = ProjectionWaiter(["a"])
        await waiter.start(database_url)
        try:
            pending = asyncio.create_task(waiter.wait_for(3, timeout=5.0))
            await asyncio.sleep(0)
            sent = time.perf_counter()
            BUS.publish({"a": 3})
            assert await pending
            assert time.perf_counter() - sent < 0.01
        finally:
            await waiter.stop()

    asyncio.run(body())


def test_wait_for_a_command_is_prompt(database_url: str) -> None:
    async def body(r: Running, waiter: ProjectionWaiter) -> None:
        fx = await seed(r.ledger)
        waits = []
        for _ in range(10):
            out = await r.ledger.open_position(
                ROOT_CTX, fx.institution_id, asset_id=fx.asset_id, holder_reference="h",
                currency="USD", amount="1",
            )  # fmt: skip
            started = time.perf_counter()
            await visible(waiter, out.position)
            waits.append(time.perf_counter() - started)
            async with r.pool.connection() as conn:
                assert out.value is not None
                assert await get_position(conn, out.value.id) is not None
        assert sorted(waits)[5] < 0.25, waits  # far below a 100 ms polling loop's worst case

    run(database_url, body)


# -- failures and metrics -----------------------------------------------------------------


def _sample(name: str, projection: str) -> float:
    value = REGISTRY.get_sample_value(name, {"projection": projection})
    return 0.0 if value is None else value


def test_a_failing_projection_stalls_alone_and_is_counted(database_url: str) -> None:
    async def body(r: Running, waiter: ProjectionWaiter) -> None:
        fx = await seed(r.ledger)
        failures = _sample("escrowgrid_projection_failures_total", "positions")
        processed = _sample("escrowgrid_projection_events_total", "institutions")
        poison = PendingEvent(uuid4(), 1, POSITION_MOVED, b'{"not": "a move"}')
        bad = await r.appender.append(AppendRequest([poison], fx.institution_id, {"a": "x"}))
        good = await r.ledger.register_institution(ROOT_CTX, name="After", regions=["US"])
        # positions (inline: the append kept the event, rolled its rows back) is stuck; the
        # followed models go on.
        assert await waiter.wait_for(good.position or 0, timeout=10.0)
        async with r.pool.connection() as conn:
            rows = dict(await (await conn.execute(
                "SELECT name, position FROM projection_tracking"
            )).fetchall())  # fmt: skip
            assert good.value is not None
            assert await get_institution(conn, good.value.id) is not None
        assert rows["positions"] < (bad.last_position or 0) <= rows["institutions"]
        assert rows["ledger_events"] < (bad.last_position or 0)  # same event, same failure
        assert _sample("escrowgrid_projection_failures_total", "positions") > failures
        assert _sample("escrowgrid_projection_events_total", "institutions") > processed
        assert _sample("escrowgrid_projection_lag_events", "positions") >= 0

    run(database_url, body)


def test_an_update_that_misses_its_row_fails_the_pipelined_batch_whole(database_url: str) -> None:
    """Live batches write in pipeline mode, where an UPDATE's row count is known only after the
    sync: a move of a position row that is gone must still fail the batch before it commits,
    leaving neither its lifecycle row nor a tracking step behind."""

    async def body(r: Running, waiter: ProjectionWaiter) -> None:
        fx = await seed(r.ledger)
        pid = await open_position(r.ledger, fx, amount="10")
        async with r.pool.connection() as conn:
            head = await (await conn.execute("SELECT max(position) FROM events")).fetchone()
            await visible(waiter, head[0] if head else None)
            await conn.execute("DELETE FROM positions WHERE id = %s", (pid,))
            before = await tracking_position(conn, "positions")
        failures = _sample("escrowgrid_projection_failures_total", "positions")
        moved = await r.ledger.move_position(CTX, pid, to_state="FUNDED")
        assert moved.position is not None  # the event is kept; the inline rows are not
        async with r.pool.connection() as conn:
            assert await tracking_position(conn, "positions") == before
            steps = await (await conn.execute(
                "SELECT count(*) FROM position_lifecycle WHERE position_id = %s", (pid,)
            )).fetchone()  # fmt: skip
        assert steps == (0,)  # the FUNDED step was rolled back with the batch
        assert _sample("escrowgrid_projection_failures_total", "positions") > failures

    run(database_url, body)


def test_a_followed_update_that_misses_its_row_is_checked_before_the_batch_commits(
    database_url: str,
) -> None:
    """A runner following the head sends a small batch's writes and its COMMIT in one round
    trip unless a row count waits to be checked: an institution touched by a key event whose
    row is gone must fail its batch before the commit, while the other models go on."""

    async def body(r: Running, waiter: ProjectionWaiter) -> None:
        fx = await seed(r.ledger)
        await open_position(r.ledger, fx)  # small batches from here on: the runner follows
        async with r.pool.connection() as conn:
            head = await (await conn.execute("SELECT max(position) FROM events")).fetchone()
            await visible(waiter, head[0] if head else None)
            await conn.execute("DELETE FROM institutions WHERE id = %s", (fx.institution_id,))
        failures = _sample("escrowgrid_projection_failures_total", "institutions")
        issued = await r.ledger.issue_api_key(
            ROOT_CTX, fx.institution_id, label="after", role="admin"
        )
        assert issued.position is not None and issued.value is not None
        assert await waiter.wait_for(issued.position, timeout=10.0, names=["api_keys"])
        async with r.pool.connection() as conn:
            assert await tracking_position(conn, "institutions") < issued.position
            assert await get_institution(conn, fx.institution_id) is None
            assert await get_api_key(conn, fx.institution_id, issued.value.record.id) is not None
        assert _sample("escrowgrid_projection_failures_total", "institutions") > failures

    run(database_url, body)


def test_a_followed_batch_reads_from_where_the_lock_says_not_where_the_runner_left_off(
    database_url: str,
) -> None:
    """Following, the runner sends its read with the lock, from the positions it committed last.
    A tracking row moved back meanwhile (as a rebuild's swap may) must make it read again from
    there: the rows past that position come back, none is missed."""

    async def body(r: Running, waiter: ProjectionWaiter) -> None:
        fx = await seed(r.ledger)
        pid = await open_position(r.ledger, fx)
        out = await r.ledger.move_position(ROOT_CTX, pid, to_state="FUNDED")
        assert out.position is not None
        await visible(waiter, out.position)  # small batches from here on: the runner follows
        async with r.pool.connection() as conn:
            before = await _audit_rows(conn)
            back = sorted(before)[-3]  # the last two commands' rows are to be projected again
            async with conn.transaction():
                await conn.execute(
                    "SELECT position FROM projection_tracking WHERE name = 'audit_events'"
                    " FOR UPDATE"
                )
                moved = await r.ledger.move_position(
                    ROOT_CTX, pid, to_state="PARTIALLY_RELEASED", amount=Decimal("1")
                )
                assert moved.position is not None
                await asyncio.sleep(0.3)  # the runner's batch waits for this row, read sent
                await conn.execute("DELETE FROM audit_events WHERE first_position > %s", (back,))
                await conn.execute(
                    "UPDATE projection_tracking SET position = %s WHERE name = 'audit_events'",
                    (back,),
                )
            assert await waiter.wait_for(moved.position, timeout=10.0, names=["audit_events"])
            after = await _audit_rows(conn)
        assert set(before) < set(after) and len(after) == len(before) + 1

    run(database_url, body)


async def _audit_rows(conn: psycopg.AsyncConnection[Any]) -> list[int]:
    cur = await conn.execute("SELECT first_position FROM audit_events ORDER BY first_position")
    return [int(row[0]) for row in await cur.fetchall()]


async def tracking_position(conn: psycopg.AsyncConnection[Any], name: str) -> int:
    cur = await conn.execute("SELECT position FROM projection_tracking WHERE name = %s", (name,))
    row = await cur.fetchone()
    assert row is not None
    return int(row[0])


def test_lag_metrics_follow_the_runner(database_url: str) -> None:
    async def body(r: Running, waiter: ProjectionWaiter) -> None:
        fx = await seed(r.ledger)
        pid = await open_position(r.ledger, fx)
        out = await r.ledger.move_position(ROOT_CTX, pid, to_state="FUNDED")
        await visible(waiter, out.position)
        await asyncio.sleep(0.6)  # one lock/lag tick of the runner (lock_interval=0.2)
        assert _sample("escrowgrid_projection_position", "positions") >= (out.position or 0)
        assert _sample("escrowgrid_projection_lag_events", "positions") == 0
        assert _sample("escrowgrid_projection_lag_seconds", "positions") == 0

    run(database_url, body)


def test_a_runner_that_holds_nothing_stays_idle(database_url: str) -> None:
    """A second runner (another API worker) waits for the locks without spinning on NOTIFYs."""

    async def body(r: Running, waiter: ProjectionWaiter) -> None:
        spare = ProjectionRunner(database_url, lock_interval=0.2)
        await spare.start()
        try:
            fx = await seed(r.ledger)
            await asyncio.sleep(0.5)
            assert spare.owned == frozenset()
            started = time.process_time()
            for _ in range(20):  # NOTIFYs reach both runners
                out = await r.ledger.open_position(
                    ROOT_CTX, fx.institution_id, asset_id=fx.asset_id, holder_reference="h",
                    currency="USD", amount="1",
                )  # fmt: skip
                await asyncio.sleep(0.05)
            await visible(waiter, out.position)
            assert time.process_time() - started < 0.8  # a spinning loop would burn ~1 s
        finally:
            await spare.stop()

    run(database_url, body)
