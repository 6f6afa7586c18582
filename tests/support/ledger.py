"""A running command side (escrowgrid.bootstrap) on a test database, and fixtures for commands."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from uuid import UUID

from escrowgrid.application.context import ROOT, CommandContext
from escrowgrid.application.ledger import Ledger
from escrowgrid.bootstrap import Running
from escrowgrid.bootstrap import running as open_ledger


@dataclass(frozen=True)
class Fixture:
    institution_id: UUID
    template_id: UUID
    asset_id: UUID


ROOT_CTX = CommandContext(ROOT)
__all__ = [
    "ROOT_CTX",
    "Fixture",
    "Running",
    "fill_funded",
    "open_ledger",
    "open_position",
    "seed",
]


async def seed(ledger: Ledger, ctx: CommandContext = ROOT_CTX) -> Fixture:
    """An institution with an escrow template and one asset, ready for positions."""
    inst = await ledger.register_institution(ctx, name="Acme Bank", regions=["US"])
    assert inst.value is not None
    tmpl = await ledger.define_template(
        ctx,
        inst.value.id,
        code="CONSTR_ESCROW",
        name="Escrow",
        vertical="CONSTRUCTION",
        region="US",
        config={"currency": "USD", "region": "US"},
    )
    assert tmpl.value is not None
    asset = await ledger.register_asset(
        ctx, inst.value.id, template_id=tmpl.value.id, label="Tower A"
    )
    assert asset.value is not None
    return Fixture(inst.value.id, tmpl.value.id, asset.value.id)


async def open_position(
    ledger: Ledger, fx: Fixture, amount: str = "1000.00", ctx: CommandContext = ROOT_CTX
) -> UUID:
    out = await ledger.open_position(
        ctx,
        fx.institution_id,
        asset_id=fx.asset_id,
        holder_reference="holder-1",
        currency="USD",
        amount=Decimal(amount),
    )
    assert out.value is not None
    return out.value.id


async def fill_funded(conninfo: str, count: int, *, inline: bool = True) -> None:
    """A seeded institution with `count` positions, each moved to FUNDED."""
    async with open_ledger(conninfo, inline=inline) as r:
        fx = await seed(r.ledger)
        for _ in range(count):
            pid = await open_position(r.ledger, fx)
            await r.ledger.move_position(ROOT_CTX, pid, to_state="FUNDED")
