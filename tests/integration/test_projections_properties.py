"""Rebuild equals live: random command sequences, projected live in random batch sizes, then
every read model rebuilt from the log must equal the live one, and show what the aggregates say.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any
from uuid import UUID

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from escrowgrid.application.context import CommandContext
from escrowgrid.domain.errors import DomainError
from escrowgrid.domain.institution import Institution
from escrowgrid.domain.policies import policy_id
from escrowgrid.domain.policy import Policy
from escrowgrid.domain.position import Position
from escrowgrid.domain.vocabulary import Region
from escrowgrid.verify import compare_models
from projections.api_keys.queries import list_api_keys
from projections.institutions.queries import get_institution
from projections.policies.queries import get_policy
from projections.positions.queries import list_positions
from projections.runner.runner import ProjectionRunner
from projections.runner.waiting import ProjectionWaiter
from tests.support.ledger import ROOT_CTX, Fixture, Running, open_ledger, seed

STATES = ["FUNDED", "PARTIALLY_RELEASED", "RELEASED", "CANCELLED", "EXPIRED", "CREATED"]
amounts = st.decimals(min_value=Decimal("0.00000001"), max_value=Decimal("5000"), places=8)
metadata = st.none() | st.dictionaries(
    st.sampled_from(["a", "b", "note", '{"_data_": "', '"_type_"']),
    st.none() | st.integers(-5, 5) | st.text(max_size=5) | st.decimals(places=3, allow_nan=False,
                                                                        allow_infinity=False),
    max_size=3,
)  # fmt: skip
operations = st.lists(
    st.one_of(
        st.tuples(st.just("open"), amounts, st.sampled_from(["h1", "h2", "tab\there"])),
        st.tuples(st.just("move"), st.integers(0, 9), st.sampled_from(STATES), amounts, metadata),
        st.tuples(st.just("policy"), st.sampled_from(list(Region)), st.none() | amounts),
        st.tuples(st.just("key"), st.sampled_from(["admin", "read_only"])),
        st.tuples(st.just("revoke"), st.integers(0, 4)),
        st.tuples(st.just("institution"), st.text(min_size=1, max_size=8)),
    ),
    min_size=1,
    max_size=25,
)


async def play(r: Running, fx: Fixture, plan: list[tuple[Any, ...]], request: str) -> None:
    """Run the plan; refused commands are part of life and change nothing."""
    ctx = CommandContext(request_id=request, client_addr="127.0.0.1")
    positions: list[UUID] = []
    keys: list[str] = []
    for op, *args in plan:
        try:
            if op == "open":
                out = await r.ledger.open_position(
                    ctx, fx.institution_id, asset_id=fx.asset_id, holder_reference=args[1],
                    currency="USD", amount=args[0],
                )  # fmt: skip
                assert out.value is not None
                positions.append(out.value.id)
            elif op == "move" and positions:
                pid = positions[args[0] % len(positions)]
                amount = args[2] if args[1] == "PARTIALLY_RELEASED" else None
                await r.ledger.move_position(
                    ctx, pid, to_state=args[1], amount=amount, metadata=args[3], reason="r"
                )
            elif op == "policy":
                limit = None if args[1] is None else str(args[1])
                await r.ledger.set_policy(
                    ctx, fx.institution_id, region=args[0].value, position={"maxAmount": limit}
                )
            elif op == "key":
                issued = await r.ledger.issue_api_key(
                    ctx, fx.institution_id, label="k", role=args[0]
                )
                assert issued.value is not None
                keys.append(issued.value.record.id)
            elif op == "revoke" and keys:
                await r.ledger.revoke_api_key(ctx, fx.institution_id, keys[args[0] % len(keys)])
            elif op == "institution":
                await r.ledger.register_institution(ctx, name=args[0], regions=["US"])
        except DomainError:
            pass


async def agree_with_aggregates(r: Running, fx: Fixture) -> None:
    """The read models show what the aggregates, replayed from the log, hold."""
    async with r.pool.connection() as conn:
        page = await list_positions(conn, institution_id=fx.institution_id, limit=1000)
        for view in page.data:
            position = await r.ledger.get(Position, view.id, ROOT_CTX)
            assert (view.state, view.amount, view.released_amount, view.remaining_amount) == (
                position.state, position.amount, position.released_amount,
                position.remaining_amount,
            )  # fmt: skip
            assert (view.created_at, view.updated_at) == (position.created_at, position.updated_at)
            assert [(e.id, e.from_state, e.to_state, e.reason, e.at, e.metadata, e.amount)
                    for e in view.events] == [
                (e.id, e.from_state, e.to_state, e.reason, e.at, e.metadata, e.amount)
                for e in position.lifecycle
            ]  # fmt: skip
        institution = await r.ledger.get(Institution, fx.institution_id, ROOT_CTX)
        keys = await list_api_keys(conn, fx.institution_id)
        assert [(k.id, k.role, k.created_at) for k in keys] == [
            (k.id, k.role, k.created_at) for k in institution.active_api_keys()
        ]
        shown = await get_institution(conn, fx.institution_id)
        assert shown is not None and shown.updated_at == institution.updated_at
        for region in Region:
            view = await get_policy(conn, fx.institution_id, region.value)
            policy = await r.ledger._find(Policy, policy_id(fx.institution_id, region))
            assert (view is None) == (policy is None)
            if view is not None and policy is not None:
                assert view.config.position.max_amount == policy.max_amount
                assert view.updated_at == policy.updated_at


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plan=operations, batch_size=st.integers(1, 7))
def test_rebuild_equals_live(
    database_url: str, plan: list[tuple[Any, ...]], batch_size: int
) -> None:
    async def body() -> None:
        runner = ProjectionRunner(database_url, batch_size=batch_size, lock_interval=0.1)
        waiter = ProjectionWaiter()
        await runner.start()
        await waiter.start(database_url)
        try:
            async with open_ledger(database_url) as r:
                fx = await seed(r.ledger)
                await play(r, fx, plan, f"req-{batch_size}")
                async with r.pool.connection() as conn:
                    cur = await conn.execute("SELECT coalesce(max(position), 0) FROM events")
                    head = (await cur.fetchone() or (0,))[0]
                assert await waiter.wait_for(head, timeout=20)
                await agree_with_aggregates(r, fx)
        finally:
            await waiter.stop()
            await runner.stop()
        mismatch = await compare_models(database_url)
        assert mismatch is None, str(mismatch)

    asyncio.run(body())
