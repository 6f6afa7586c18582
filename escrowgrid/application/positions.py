"""Commands on positions: open one, move it through its lifecycle."""

from __future__ import annotations

from uuid import UUID

from escrowgrid.application.context import CommandContext
from escrowgrid.application.handling import CommandHandling, Decision, Outcome
from escrowgrid.domain.asset import Asset
from escrowgrid.domain.asset_template import AssetTemplate
from escrowgrid.domain.policies import policy_id
from escrowgrid.domain.policy import Policy
from escrowgrid.domain.position import Position
from escrowgrid.domain.vocabulary import parse_region


class PositionCommands(CommandHandling):
    """Positions: opening (under the region's policy) and lifecycle moves."""

    async def open_position(
        self,
        ctx: CommandContext,
        institution_id: UUID,
        *,
        asset_id: UUID,
        holder_reference: object,
        currency: object,
        amount: object,
        external_reference: object = None,
    ) -> Outcome[Position]:
        async def decide() -> Decision[Position]:
            self._check_tenant(ctx, institution_id)
            asset = await self.get(Asset, asset_id, ctx)
            template = await self.get(AssetTemplate, asset.template_id, ctx)
            pid = policy_id(institution_id, parse_region(template.region, "region"))
            policy = await self._find(Policy, pid)
            position = Position.open(
                institution_id,
                asset=asset,
                template=template,
                holder_reference=holder_reference,
                currency=currency,
                amount=amount,
                external_reference=external_reference,
                policy=None if policy is None else policy.position_policy,
            )
            # The policy was read, not written: a change to it before the append is a conflict.
            seen = {pid: 0 if policy is None else policy.version}
            return Decision(institution_id, [position], position, read_versions=seen)

        return await self._command(ctx, "position.open", decide)

    async def move_position(
        self,
        ctx: CommandContext,
        position_id: UUID,
        *,
        to_state: object,
        reason: object = None,
        metadata: object = None,
        amount: object = None,
    ) -> Outcome[Position]:
        async def decide() -> Decision[Position]:
            position = await self.get(Position, position_id, ctx)
            position.move(to_state, reason=reason, metadata=metadata, amount=amount)
            return Decision(position.institution_id, [position], position)

        return await self._command(ctx, "position.move", decide)
