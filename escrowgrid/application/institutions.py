"""Commands on institutions and their API keys: register, issue a key, revoke a key."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from uuid import UUID, uuid4

from escrowgrid.application import access
from escrowgrid.application.context import CommandContext
from escrowgrid.application.handling import CommandHandling, Decision, Outcome
from escrowgrid.domain.institution import ApiKeyRecord, Institution

API_KEY_PREFIX = "eg_"


def hash_api_key(token: str) -> str:
    """API keys are kept only as their SHA-256."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A new API key: the record, and the token shown only this once."""

    institution: Institution
    record: ApiKeyRecord
    token: str


class InstitutionCommands(CommandHandling):
    """Institutions and their keys."""

    async def register_institution(
        self, ctx: CommandContext, *, name: object, regions: object, verticals: object = None
    ) -> Outcome[Institution]:
        access.require_root(ctx.actor)

        async def decide() -> Decision[Institution]:
            institution = Institution.register(name, regions, verticals)
            return Decision(institution.id, [institution], institution)

        return await self._command(ctx, "institution.register", decide)

    async def issue_api_key(
        self, ctx: CommandContext, institution_id: UUID, *, label: object, role: object
    ) -> Outcome[IssuedKey]:
        async def decide() -> Decision[IssuedKey]:
            institution = await self.get(Institution, institution_id, ctx)
            token = API_KEY_PREFIX + secrets.token_urlsafe(32)
            record = institution.issue_api_key(
                str(uuid4()), label=label, role=role, key_hash=hash_api_key(token)
            )
            return Decision(institution.id, [institution], IssuedKey(institution, record, token))

        return await self._command(ctx, "api_key.issue", decide)

    async def revoke_api_key(
        self, ctx: CommandContext, institution_id: UUID, key_id: str
    ) -> Outcome[ApiKeyRecord]:
        async def decide() -> Decision[ApiKeyRecord]:
            institution = await self.get(Institution, institution_id, ctx)
            record = institution.revoke_api_key(key_id)
            return Decision(institution.id, [institution], record)

        return await self._command(ctx, "api_key.revoke", decide)
