"""The command handlers on both event stores: each body runs on the in-memory fake
(tests/support/memory_store.py) and on PostgreSQL, which keeps the fake honest."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable, Iterator
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest

from escrowgrid import bootstrap
from escrowgrid.application.context import ROOT, CommandContext, IdempotencyRequest
from escrowgrid.application.event_store import EventStore
from escrowgrid.application.ledger import Ledger
from escrowgrid.domain.errors import ForbiddenTransition, PolicyViolation
from escrowgrid.domain.policies import policy_id
from escrowgrid.domain.policy import Policy
from escrowgrid.domain.position import Position
from escrowgrid.eventlog.errors import ConcurrencyConflict, IdempotencyMismatch
from escrowgrid.eventlog.records import AppendRequest, PendingEvent, StoredResponse
from tests.support.ledger import ROOT_CTX, open_position, seed
from tests.support.memory_store import MemoryEventStore

Body = Callable[[Ledger, EventStore], Awaitable[None]]
Run = Callable[[Body], None]


@pytest.fixture(params=["memory", "postgres"])
def run(request: pytest.FixtureRequest) -> Iterator[Run]:
    """Runs a test body with a Ledger and the store under it, on one backend."""
    if request.param == "memory":

        def on_memory(body: Body) -> None:
            store = MemoryEventStore()
            asyncio.run(body(Ledger(store), store))

        yield on_memory
        return
    dsn = request.getfixturevalue("database_url")

    def on_postgres(body: Body) -> None:
        async def go() -> None:
            async with bootstrap.running(dsn) as wired:
                await body(wired.ledger, wired.store)

        asyncio.run(go())

    yield on_postgres


def keyed(key: str, request: dict[str, Any]) -> CommandContext:
    digest = hashlib.sha256(json.dumps(request, sort_keys=True).encode()).digest()

    def render(result: Any) -> StoredResponse:
        return StoredResponse(200, json.dumps({"id": str(result.id), "v": result.version}).encode())

    return CommandContext(ROOT, idempotency=IdempotencyRequest(key, digest), render=render)


def test_open_and_move_append_one_version_each(run: Run) -> None:
    async def body(ledger: Ledger, store: EventStore) -> None:
        fx = await seed(ledger)
        pid = await open_position(ledger, fx, amount="100.00")
        funded = await ledger.move_position(ROOT_CTX, pid, to_state="FUNDED")
        part = await ledger.move_position(
            ROOT_CTX, pid, to_state="PARTIALLY_RELEASED", amount=Decimal("40")
        )
        assert funded.position is not None and part.position is not None
        assert part.position > funded.position
        assert [e.version for e in (await store.load(pid))[pid]] == [1, 2, 3]
        fresh = await ledger.get(Position, pid, ROOT_CTX)
        assert fresh.state == "PARTIALLY_RELEASED"
        assert fresh.remaining_amount == Decimal("60.00")
        with pytest.raises(ForbiddenTransition):
            await ledger.move_position(ROOT_CTX, pid, to_state="CREATED")
        assert len((await store.load(pid))[pid]) == 3
        assert (await store.load(missing := uuid4()))[missing] == []

    run(body)


def test_a_stale_version_is_a_conflict_and_writes_nothing(run: Run) -> None:
    async def body(ledger: Ledger, store: EventStore) -> None:
        fx = await seed(ledger)
        pid = await open_position(ledger, fx)
        await ledger.move_position(ROOT_CTX, pid, to_state="FUNDED")
        stale = PendingEvent(pid, 2, "tests:Stale", b"{}")
        fresh = PendingEvent(uuid4(), 1, "tests:Fresh", b"{}")
        with pytest.raises(ConcurrencyConflict) as caught:
            await store.append(AppendRequest([fresh, stale], fx.institution_id, {}))
        assert (caught.value.stream_id, caught.value.expected, caught.value.actual) == (pid, 1, 2)
        assert (await store.load(fresh.stream_id))[fresh.stream_id] == []  # all or nothing
        read = AppendRequest([fresh], fx.institution_id, {}, read_versions={pid: 1})
        with pytest.raises(ConcurrencyConflict):
            await store.append(read)
        assert (await store.load(fresh.stream_id))[fresh.stream_id] == []

    run(body)


def test_racing_moves_never_lose_an_update(run: Run) -> None:
    async def body(ledger: Ledger, store: EventStore) -> None:
        fx = await seed(ledger)
        pid = await open_position(ledger, fx)
        outcomes = await asyncio.gather(
            *(ledger.move_position(ROOT_CTX, pid, to_state="FUNDED") for _ in range(4)),
            return_exceptions=True,
        )
        appended = [o for o in outcomes if not isinstance(o, BaseException) and o.position]
        refused = [o for o in outcomes if isinstance(o, BaseException)]
        assert len(appended) == 1
        assert all(isinstance(o, ConcurrencyConflict) for o in refused)
        assert [e.version for e in (await store.load(pid))[pid]] == [1, 2]

    run(body)


def test_an_idempotency_key_takes_effect_once(run: Run) -> None:
    async def body(ledger: Ledger, store: EventStore) -> None:
        fx = await seed(ledger)
        pid = await open_position(ledger, fx)
        request = {"toState": "FUNDED", "id": str(pid)}
        first = await ledger.move_position(keyed("k-1", request), pid, to_state="FUNDED")
        assert first.value is not None and first.replayed is None
        answer = StoredResponse(200, json.dumps({"id": str(pid), "v": 2}).encode())
        again = await ledger.move_position(keyed("k-1", request), pid, to_state="FUNDED")
        assert again.value is None and again.replayed == answer
        assert len((await store.load(pid))[pid]) == 2
        record = await store.idempotency_record(ROOT.key_id, "k-1")
        assert record is not None and record.response == answer
        other = {**request, "toState": "CANCELLED"}
        with pytest.raises(IdempotencyMismatch):
            await ledger.move_position(keyed("k-1", other), pid, to_state="CANCELLED")
        assert await store.idempotency_record(ROOT.key_id, "k-2") is None

    run(body)


def test_racing_policy_upserts_all_land(run: Run) -> None:
    async def body(ledger: Ledger, store: EventStore) -> None:
        fx = await seed(ledger)
        limits = [{"maxAmount": str(1000 + i)} for i in range(6)]
        done = await asyncio.gather(
            *(
                ledger.set_policy(ROOT_CTX, fx.institution_id, region="US", position=lim)
                for lim in limits
            )
        )
        assert sorted(d.value.version for d in done if d.value is not None) == list(range(1, 7))
        pid = policy_id(fx.institution_id, "US")
        assert len((await store.load(pid))[pid]) == 6
        policy = await ledger.get(Policy, pid, ROOT_CTX)
        assert policy.version == 6

    run(body)


def test_racing_requests_with_one_key_take_effect_once(run: Run) -> None:
    async def body(ledger: Ledger, store: EventStore) -> None:
        fx = await seed(ledger)
        pid = await open_position(ledger, fx)
        ctx = keyed("same", {"toState": "FUNDED"})
        outcomes = await asyncio.gather(
            *(ledger.move_position(ctx, pid, to_state="FUNDED") for _ in range(6)),
            return_exceptions=True,
        )
        applied = [o for o in outcomes if not isinstance(o, BaseException) and o.replayed is None]
        replayed = [o for o in outcomes if not isinstance(o, BaseException) and o.replayed]
        refused = [o for o in outcomes if isinstance(o, BaseException)]
        # One applied; the rest replay its answer or (lost the race before the key landed) conflict.
        assert len(applied) == 1
        assert len(applied) + len(replayed) + len(refused) == 6
        assert all(isinstance(o, ConcurrencyConflict) for o in refused)
        answer = StoredResponse(200, json.dumps({"id": str(pid), "v": 2}).encode())
        assert all(o.replayed == answer for o in replayed)
        assert len((await store.load(pid))[pid]) == 2

    run(body)


# -- the stream cache: policies decided on from memory, never trusted -------------------------


class CountingStore:
    """The store, counting the loads of each stream (a second process shares the store)."""

    def __init__(self, store: EventStore) -> None:
        self.store = store
        self.loads: dict[Any, int] = {}

    async def load(self, *stream_ids: Any) -> Any:
        for sid in stream_ids:
            self.loads[sid] = self.loads.get(sid, 0) + 1
        return await self.store.load(*stream_ids)

    async def append(self, request: AppendRequest) -> Any:
        return await self.store.append(request)

    async def idempotency_record(self, scope: str, key: str) -> Any:
        return await self.store.idempotency_record(scope, key)


def test_positions_opened_under_one_policy_load_it_once(run: Run) -> None:
    async def body(ledger: Ledger, store: EventStore) -> None:
        counting = CountingStore(store)
        here = Ledger(counting)
        fx = await seed(here)
        await here.set_policy(ROOT_CTX, fx.institution_id, region="US", position={})
        for _ in range(3):
            await open_position(here, fx, amount="5")
        assert counting.loads[policy_id(fx.institution_id, "US")] == 1  # the set's own load

    run(body)


def test_a_policy_another_process_changed_is_not_taken_from_the_cache(run: Run) -> None:
    """A stale cached policy never decides: looser, the append's version check catches it;
    stricter, the refusal is decided again on the log's policy."""

    async def body(ledger: Ledger, store: EventStore) -> None:
        here, there = Ledger(store), ledger  # two processes on one log
        fx = await seed(there)
        await there.set_policy(ROOT_CTX, fx.institution_id, region="US", position={})
        assert await open_position(here, fx, amount="50")  # `here` caches the policy
        await there.set_policy(
            ROOT_CTX, fx.institution_id, region="US", position={"maxAmount": "10"}
        )
        with pytest.raises(PolicyViolation):
            await open_position(here, fx, amount="50")
        await there.set_policy(
            ROOT_CTX, fx.institution_id, region="US", position={"maxAmount": "1000"}
        )
        assert await open_position(here, fx, amount="500")  # refused by the cached max of 10
        # A policy set here after one set there: the upsert is decided on the log's policy.
        await there.set_policy(
            ROOT_CTX, fx.institution_id, region="US", position={"maxAmount": "20"}
        )
        done = await here.set_policy(
            ROOT_CTX, fx.institution_id, region="US", position={"maxAmount": "30"}
        )
        assert done.value is not None and done.value.version == 5

    run(body)
