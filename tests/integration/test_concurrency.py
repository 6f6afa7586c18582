"""Optimistic concurrency: racing commands on one position never lose an update."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from eventsourcing.persistence import StoredEvent

from escrowgrid.application.context import ROOT, CommandContext
from escrowgrid.domain.errors import ForbiddenTransition
from escrowgrid.domain.position import Position
from escrowgrid.eventlog.codec import EventCodec
from escrowgrid.eventlog.errors import ConcurrencyConflict
from escrowgrid.eventlog.reader import load_stream
from tests.support.ledger import open_ledger, open_position, seed

CTX = CommandContext(ROOT)

# The contract's lifecycle, written out independently of the domain's table.
ALLOWED = {
    "CREATED": {"FUNDED", "CANCELLED", "EXPIRED"},
    "FUNDED": {"PARTIALLY_RELEASED", "RELEASED", "CANCELLED", "EXPIRED"},
    "PARTIALLY_RELEASED": {"PARTIALLY_RELEASED", "RELEASED", "CANCELLED", "EXPIRED"},
}


def test_racing_terminal_moves_from_two_processes_have_one_winner(database_url: str) -> None:
    """Two command layers (as two API processes) race 24 terminal moves on each position."""

    async def go() -> None:
        async with open_ledger(database_url) as a, open_ledger(database_url) as b:
            fx = await seed(a.ledger)
            positions = [await open_position(a.ledger, fx) for _ in range(10)]
            for pid in positions:
                await a.ledger.move_position(CTX, pid, to_state="FUNDED")
            targets = ["RELEASED", "CANCELLED", "EXPIRED"]
            for pid in positions:
                attempts = [
                    (a if i % 2 else b).ledger.move_position(CTX, pid, to_state=targets[i % 3])
                    for i in range(24)
                ]
                results = await asyncio.gather(*attempts, return_exceptions=True)
                wins = [r for r in results if not isinstance(r, BaseException) and r.position]
                losses = [r for r in results if isinstance(r, BaseException)]
                noops = [r for r in results if not isinstance(r, BaseException) and not r.position]
                assert len(wins) == 1, results
                assert all(isinstance(e, ConcurrencyConflict | ForbiddenTransition) for e in losses)
                # A command that loaded after the winner and asked for the same state is a no-op.
                winner_state = wins[0].value.state  # type: ignore[union-attr]
                assert all(n.value.state == winner_state for n in noops)  # type: ignore[union-attr]
                final = await a.ledger.get(Position, pid, CTX)
                assert final.version == 3 and final.state == winner_state

    asyncio.run(go())


def test_racing_partial_releases_never_over_release(database_url: str) -> None:
    async def go() -> None:
        async with open_ledger(database_url) as a, open_ledger(database_url) as b:
            fx = await seed(a.ledger)
            pid = await open_position(a.ledger, fx, amount="100")
            await a.ledger.move_position(CTX, pid, to_state="FUNDED")
            accepted = Decimal(0)
            for _ in range(15):
                attempts = [
                    (a if i % 2 else b).ledger.move_position(
                        CTX, pid, to_state="PARTIALLY_RELEASED", amount=Decimal("7.5")
                    )
                    for i in range(8)
                ]
                for r in await asyncio.gather(*attempts, return_exceptions=True):
                    if not isinstance(r, BaseException) and r.position:
                        accepted += Decimal("7.5")
            final = await a.ledger.get(Position, pid, CTX)
            assert final.released_amount == accepted <= Decimal(100)
            assert final.remaining_amount == Decimal(100) - accepted
            # Replay the log itself and check every recorded step was allowed.
            async with a.pool.connection() as conn:
                events = await load_stream(conn, pid)
            codec = EventCodec()
            state, released = "CREATED", Decimal(0)
            for event in events[1:]:
                domain_event = codec.mapper.to_domain_event(
                    StoredEvent(event.stream_id, event.version, event.topic, event.state)
                )
                assert domain_event.from_state == state  # type: ignore[attr-defined]
                assert domain_event.to_state in ALLOWED[state]  # type: ignore[attr-defined]
                state = domain_event.to_state  # type: ignore[attr-defined]
                released += domain_event.released  # type: ignore[attr-defined]
                assert released <= Decimal(100)

    asyncio.run(go())
