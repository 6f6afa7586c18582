"""Commands on an institution's catalog: its policies, asset templates and assets."""

from __future__ import annotations

from uuid import UUID

from escrowgrid.application.context import CommandContext
from escrowgrid.application.handling import CommandHandling, Decision, Outcome
from escrowgrid.domain.asset import Asset
from escrowgrid.domain.asset_template import AssetTemplate
from escrowgrid.domain.institution import Institution
from escrowgrid.domain.policies import parse_position_policy, policy_id
from escrowgrid.domain.policy import Policy
from escrowgrid.domain.vocabulary import parse_region


class CatalogCommands(CommandHandling):
    """Policies (an upsert per region), templates and assets."""

    async def set_policy(
        self, ctx: CommandContext, institution_id: UUID, *, region: object, position: object
    ) -> Outcome[Policy]:
        async def decide() -> Decision[Policy]:
            parsed_region = parse_region(region, "region")
            limits = parse_position_policy(position)
            await self.get(Institution, institution_id, ctx)
            policy = await self._find(Policy, policy_id(institution_id, parsed_region))
            if policy is None:
                policy = Policy.set(institution_id, parsed_region, limits)
            else:
                policy.update(limits)
            return Decision(institution_id, [policy], policy)

        # An upsert: a racing PUT that appended first is not a reason to refuse this one.
        return await self._command(ctx, "policy.set", decide, retry_conflicts=True)

    async def define_template(
        self,
        ctx: CommandContext,
        institution_id: UUID,
        *,
        code: object,
        name: object,
        vertical: object,
        region: object,
        config: object = None,
    ) -> Outcome[AssetTemplate]:
        async def decide() -> Decision[AssetTemplate]:
            await self.get(Institution, institution_id, ctx)
            template = AssetTemplate.define(
                institution_id,
                code=code,
                name=name,
                vertical=vertical,
                region=region,
                config=config,
            )
            return Decision(institution_id, [template], template)

        return await self._command(ctx, "asset_template.define", decide)

    async def register_asset(
        self,
        ctx: CommandContext,
        institution_id: UUID,
        *,
        template_id: UUID,
        label: object,
        metadata: object = None,
    ) -> Outcome[Asset]:
        async def decide() -> Decision[Asset]:
            self._check_tenant(ctx, institution_id)
            template = await self.get(AssetTemplate, template_id, ctx)
            asset = Asset.register(institution_id, template, label, metadata)
            return Decision(institution_id, [asset], asset)

        return await self._command(ctx, "asset.register", decide)
