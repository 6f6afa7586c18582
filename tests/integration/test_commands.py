"""Commands against the real event store: effects, refusals that write nothing, idempotency."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest

from escrowgrid.application.context import (
    ROOT,
    Actor,
    ActorRole,
    CommandContext,
    IdempotencyRequest,
)
from escrowgrid.application.errors import Forbidden, NotFound
from escrowgrid.application.institutions import hash_api_key
from escrowgrid.domain.errors import ForbiddenTransition, PolicyViolation, ValidationError
from escrowgrid.domain.institution import Institution
from escrowgrid.domain.position import Position
from escrowgrid.eventlog.codec import make_mapper
from escrowgrid.eventlog.errors import IdempotencyMismatch, StoreUnavailable
from escrowgrid.eventlog.hashing import canonical_meta, event_hash
from escrowgrid.eventlog.records import StoredResponse
from tests.support.ledger import Running, open_ledger, open_position, seed

CTX = CommandContext(ROOT, request_id="req-1", client_addr="127.0.0.1")


def run(dsn: str, body: Callable[[Running], Awaitable[Any]]) -> Any:
    async def go() -> Any:
        async with open_ledger(dsn) as running:
            return await body(running)

    return asyncio.run(go())


async def count_events(r: Running) -> int:
    async with r.pool.connection() as conn:
        row = await (await conn.execute("SELECT count(*) FROM events")).fetchone()
    assert row is not None
    return int(row[0])


def test_lifecycle_with_partial_releases_is_exact(database_url: str) -> None:
    async def body(r: Running) -> None:
        fx = await seed(r.ledger)
        pid = await open_position(r.ledger, fx, amount="1000.00000001")
        await r.ledger.move_position(CTX, pid, to_state="FUNDED")
        for part in ("0.1", "0.2", "99.70000001"):
            await r.ledger.move_position(
                CTX, pid, to_state="PARTIALLY_RELEASED", amount=Decimal(part)
            )
        done = await r.ledger.move_position(CTX, pid, to_state="RELEASED")
        assert done.value is not None
        fresh = await r.ledger.get(Position, pid, CTX)
        assert fresh.state == "RELEASED"
        assert fresh.released_amount == Decimal("1000.00000001")
        assert fresh.remaining_amount == Decimal("0")
        assert isinstance(fresh.released_amount, Decimal)
        steps = [(e.from_state, e.to_state, e.amount) for e in fresh.lifecycle]
        assert steps[0] == ("CREATED", "FUNDED", None)  # transitions only
        assert [s[2] for s in steps[1:4]] == [
            Decimal("0.1"),
            Decimal("0.2"),
            Decimal("99.70000001"),
        ]
        assert steps[-1][2] == Decimal("900.00000000")

    run(database_url, body)


def test_refused_commands_append_nothing(database_url: str) -> None:
    async def body(r: Running) -> None:
        fx = await seed(r.ledger)
        pid = await open_position(r.ledger, fx)
        before = await count_events(r)
        with pytest.raises(ForbiddenTransition):
            await r.ledger.move_position(CTX, pid, to_state="RELEASED")
        with pytest.raises(ValidationError):
            await r.ledger.move_position(CTX, pid, to_state="FLYING")
        await r.ledger.move_position(CTX, pid, to_state="FUNDED")
        before = await count_events(r)
        with pytest.raises(ValidationError):
            await r.ledger.move_position(
                CTX, pid, to_state="PARTIALLY_RELEASED", amount=Decimal("1000.01")
            )
        with pytest.raises(ValidationError):
            await r.ledger.move_position(CTX, pid, to_state="PARTIALLY_RELEASED", amount=1.5)
        with pytest.raises(ValidationError):
            await r.ledger.open_position(
                CTX, fx.institution_id, asset_id=fx.asset_id, holder_reference="h",
                currency="USD", amount="0.000000001",
            )  # fmt: skip
        with pytest.raises(ValidationError):
            await r.ledger.register_institution(CTX, name="", regions=["MARS"])
        with pytest.raises(NotFound):
            await r.ledger.move_position(CTX, uuid4(), to_state="FUNDED")
        with pytest.raises(NotFound):  # an id of another kind of aggregate
            await r.ledger.move_position(CTX, fx.asset_id, to_state="FUNDED")
        assert await count_events(r) == before

    run(database_url, body)


def test_a_move_to_the_current_state_appends_nothing(database_url: str) -> None:
    async def body(r: Running) -> None:
        fx = await seed(r.ledger)
        pid = await open_position(r.ledger, fx)
        before = await count_events(r)
        same = await r.ledger.move_position(CTX, pid, to_state="CREATED")
        assert same.position is None and same.value is not None
        assert same.value.version == 1
        assert await count_events(r) == before

    run(database_url, body)


def test_policy_limits_apply_at_position_creation(database_url: str) -> None:
    async def body(r: Running) -> None:
        fx = await seed(r.ledger)
        await r.ledger.set_policy(
            CTX, fx.institution_id, region="US",
            position={"minAmount": "10", "maxAmount": "500", "allowedCurrencies": ["USD"]},
        )  # fmt: skip
        with pytest.raises(PolicyViolation):
            await open_position(r.ledger, fx, amount="501")
        with pytest.raises(PolicyViolation):
            await open_position(r.ledger, fx, amount="9.99")
        assert await open_position(r.ledger, fx, amount="500")
        updated = await r.ledger.set_policy(
            CTX, fx.institution_id, region="US", position={"maxAmount": "10000"}
        )
        assert updated.value is not None and updated.value.version == 2
        assert await open_position(r.ledger, fx, amount="5000")

    run(database_url, body)


def test_tenancy_is_enforced_by_commands(database_url: str) -> None:
    async def body(r: Running) -> None:
        a = await seed(r.ledger)
        b = await seed(r.ledger)
        pid = await open_position(r.ledger, a)
        b_admin = CommandContext(Actor("key-b", ActorRole.ADMIN, b.institution_id))
        before = await count_events(r)
        with pytest.raises(Forbidden):
            await r.ledger.move_position(b_admin, pid, to_state="FUNDED")
        with pytest.raises(Forbidden):
            await open_position(r.ledger, a, ctx=b_admin)
        with pytest.raises(Forbidden):  # b's own institution, a's asset
            await r.ledger.open_position(
                b_admin, b.institution_id, asset_id=a.asset_id, holder_reference="h",
                currency="USD", amount="1",
            )  # fmt: skip
        with pytest.raises(Forbidden):
            await r.ledger.register_institution(b_admin, name="x", regions=["US"])
        with pytest.raises(Forbidden):
            await r.ledger.issue_api_key(b_admin, a.institution_id, label="x", role="admin")
        assert await count_events(r) == before

    run(database_url, body)


def test_api_keys_are_stored_only_as_hashes(database_url: str) -> None:
    async def body(r: Running) -> None:
        fx = await seed(r.ledger)
        issued = await r.ledger.issue_api_key(CTX, fx.institution_id, label="ops", role="admin")
        assert issued.value is not None
        token = issued.value.token
        assert issued.value.record.key_hash == hash_api_key(token)
        async with r.pool.connection() as conn:
            cur = await conn.execute("SELECT state, meta::text FROM events")
            for state, meta in await cur.fetchall():
                assert token.encode() not in bytes(state)
                assert token not in meta
        revoked = await r.ledger.revoke_api_key(CTX, fx.institution_id, issued.value.record.id)
        assert revoked.value is not None and revoked.value.revoked_at is not None
        inst = await r.ledger.get(Institution, fx.institution_id, CTX)
        assert inst.active_api_keys() == []

    run(database_url, body)


def _ctx(key: str, request: dict[str, Any], actor: Actor = ROOT) -> CommandContext:
    digest = hashlib.sha256(json.dumps(request, sort_keys=True).encode()).digest()

    def render(result: Any) -> StoredResponse:
        return StoredResponse(200, json.dumps({"id": str(result.id), "v": result.version}).encode())

    return CommandContext(actor, idempotency=IdempotencyRequest(key, digest), render=render)


def test_idempotent_commands_take_effect_once(database_url: str) -> None:
    async def body(r: Running) -> None:
        fx = await seed(r.ledger)
        pid = await open_position(r.ledger, fx)
        request = {"toState": "FUNDED", "id": str(pid)}
        first = await r.ledger.move_position(_ctx("k-1", request), pid, to_state="FUNDED")
        assert first.value is not None and first.position is not None
        before = await count_events(r)
        again = await r.ledger.move_position(_ctx("k-1", request), pid, to_state="FUNDED")
        assert again.replayed == StoredResponse(200, json.dumps({"id": str(pid), "v": 2}).encode())
        assert await count_events(r) == before
        with pytest.raises(IdempotencyMismatch):
            await r.ledger.move_position(
                _ctx("k-1", {**request, "toState": "CANCELLED"}), pid, to_state="CANCELLED"
            )
        # Keys are scoped to the API key that sent them.
        other = Actor("another-key", ActorRole.ADMIN, fx.institution_id)
        moved = await r.ledger.move_position(
            _ctx("k-1", {**request, "toState": "CANCELLED"}, other), pid, to_state="CANCELLED"
        )
        assert moved.value is not None and moved.value.state == "CANCELLED"

    run(database_url, body)


def test_concurrent_requests_with_one_key_take_effect_once(database_url: str) -> None:
    async def body(r: Running) -> None:
        fx = await seed(r.ledger)
        pid = await open_position(r.ledger, fx)
        request = {"toState": "FUNDED"}
        outcomes = await asyncio.gather(
            *(
                r.ledger.move_position(_ctx("same", request), pid, to_state="FUNDED")
                for _ in range(8)
            ),
            return_exceptions=True,
        )
        applied = [o for o in outcomes if not isinstance(o, BaseException) and o.replayed is None]
        replayed = [o for o in outcomes if not isinstance(o, BaseException) and o.replayed]
        # One applied; the rest replay its answer or (lost race before the key landed) conflict.
        assert len(applied) == 1
        for o in replayed:
            assert o.replayed == StoredResponse(200, json.dumps({"id": str(pid), "v": 2}).encode())
        fresh = await r.ledger.get(Position, pid, CTX)
        assert fresh.version == 2

    run(database_url, body)


def test_events_audit_and_idempotency_are_one_transaction(database_url: str) -> None:
    async def body(r: Running) -> None:
        fx = await seed(r.ledger)
        pid = await open_position(r.ledger, fx)
        before = await count_events(r)

        def broken_render(result: Any) -> StoredResponse:
            return StoredResponse(70_000, b"{}")  # overflows smallint: the insert fails late

        ctx = CommandContext(
            ROOT, idempotency=IdempotencyRequest("atomic", b"h" * 32), render=broken_render
        )
        with pytest.raises(StoreUnavailable):
            await r.ledger.move_position(ctx, pid, to_state="FUNDED")
        assert await count_events(r) == before
        async with r.pool.connection() as conn:
            row = await (await conn.execute("SELECT count(*) FROM idempotency_keys")).fetchone()
        assert row == (0,)
        fresh = await r.ledger.get(Position, pid, CTX)
        assert fresh.state == "CREATED"
        # The appender carries on after a failed batch.
        assert (await r.ledger.move_position(CTX, pid, to_state="FUNDED")).position is not None

    run(database_url, body)


def test_audit_metadata_travels_with_the_events(database_url: str) -> None:
    async def body(r: Running) -> None:
        fx = await seed(r.ledger)
        admin = Actor("key-7", ActorRole.ADMIN, fx.institution_id)
        ctx = CommandContext(admin, request_id="req-xyz", client_addr="10.1.2.3")
        pid = await open_position(r.ledger, fx, ctx=ctx)
        async with r.pool.connection() as conn:
            row = await (
                await conn.execute(
                    "SELECT meta, tenant_id FROM events WHERE stream_id = %s", (pid,)
                )
            ).fetchone()
        assert row is not None
        assert UUID(row[0].pop("commandId"))
        assert row[0] == {
            "action": "position.open",
            "actorKeyId": "key-7",
            "actorRole": "admin",
            "institutionId": str(fx.institution_id),
            "requestId": "req-xyz",
            "clientAddr": "10.1.2.3",
        }
        assert row[1] == fx.institution_id

    run(database_url, body)


def test_an_old_v1_event_is_upcast_when_read(database_url: str) -> None:
    async def body(r: Running) -> None:
        fx = await seed(r.ledger)
        pid = await open_position(r.ledger, fx)
        current = await r.ledger.get(Position, pid, CTX)
        # Write the same creation as a v1 payload (no external_reference, no class_version).
        mapper = make_mapper()
        v1_state = {
            k: v
            for k, v in json.loads((await _stored_state(r, pid)).decode()).items()
            if k not in {"external_reference", "class_version"}
        }
        state = json.dumps(v1_state).encode()
        old_id = uuid4()
        topic = "escrowgrid.domain.position:Position.Created"
        meta = {"action": "position.open", "migratedFrom": "v1"}
        digest = event_hash(None, old_id, 1, topic, state, canonical_meta(meta))
        async with r.pool.connection() as conn:
            await conn.execute(
                "INSERT INTO events (stream_id, version, topic, state, tenant_id, meta, hash)"
                " VALUES (%s, 1, %s, %s, %s, %s, %s)",
                (old_id, topic, state, fx.institution_id, json.dumps(meta), digest),
            )
        old = await r.ledger.get(Position, old_id, CTX)
        assert old.external_reference is None
        assert old.amount == current.amount and old.state == "CREATED"
        assert mapper is not None

    run(database_url, body)


async def _stored_state(r: Running, stream_id: UUID) -> bytes:
    async with r.pool.connection() as conn:
        row = await (
            await conn.execute(
                "SELECT state FROM events WHERE stream_id = %s AND version = 1", (stream_id,)
            )
        ).fetchone()
    assert row is not None
    return bytes(row[0])


def test_a_stopped_database_is_unavailable_not_a_crash(database_url: str) -> None:
    async def body(r: Running) -> None:
        fx = await seed(r.ledger)
        pid = await open_position(r.ledger, fx)
        dbname = psycopg.conninfo.conninfo_to_dict(database_url)["dbname"]
        # Kill the appender's connections from outside, as a server restart would.
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as other:
            await other.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                (dbname,),
            )
        outcome = None
        for _ in range(3):  # the pool replaces broken connections
            try:
                outcome = await r.ledger.move_position(CTX, pid, to_state="FUNDED")
                break
            except (StoreUnavailable, psycopg.OperationalError):
                await asyncio.sleep(0.2)
        assert outcome is not None and outcome.value is not None

    run(database_url, body)
