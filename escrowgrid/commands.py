"""The one place a command becomes events: load aggregates, apply the rules, append atomically."""

from __future__ import annotations

import asyncio
import hashlib
import random
import secrets
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate
from psycopg_pool import AsyncConnectionPool

from escrowgrid.application import access
from escrowgrid.command_context import CommandContext, NotFound
from escrowgrid.domain.asset import Asset
from escrowgrid.domain.asset_template import AssetTemplate
from escrowgrid.domain.institution import ApiKeyRecord, Institution
from escrowgrid.domain.policies import parse_position_policy, policy_id
from escrowgrid.domain.policy import Policy
from escrowgrid.domain.position import Position
from escrowgrid.domain.vocabulary import parse_region
from escrowgrid.event_codec import EventCodec
from escrowgrid.eventlog.appender import Appender
from escrowgrid.eventlog.errors import ConcurrencyConflict, IdempotencyMismatch
from escrowgrid.eventlog.loader import StreamLoader
from escrowgrid.eventlog.records import AppendRequest, IdempotencyRecord, StoredResponse

A = TypeVar("A", bound=Aggregate)
T = TypeVar("T")

API_KEY_PREFIX = "eg_"
IMMUTABLE_CACHE_SIZE = 10_000
# An upsert retries a lost race this often (n racers may need n - 1 retries for the last one),
# sleeping a random time up to CONFLICT_BACKOFF_S * attempt, at most CONFLICT_BACKOFF_MAX_S.
CONFLICT_RETRIES = 50
CONFLICT_BACKOFF_S = 0.005
CONFLICT_BACKOFF_MAX_S = 0.1


def hash_api_key(token: str) -> str:
    """API keys are kept only as their SHA-256."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Outcome(Generic[T]):
    """A command's result, or the recorded answer of an earlier request with the same key."""

    value: T | None
    replayed: StoredResponse | None = None
    position: int | None = None  # last log position written (None: nothing appended)


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A new API key: the record, and the token shown only this once."""

    institution: Institution
    record: ApiKeyRecord
    token: str


@dataclass(frozen=True, slots=True)
class Decision(Generic[T]):
    """What a command decided: the aggregates with new events, whose tenant, and the result."""

    tenant_id: UUID
    aggregates: list[Aggregate]
    result: T
    read_versions: dict[UUID, int] = field(default_factory=dict)


class Ledger:
    """Command handlers. Each loads what it needs, lets the domain decide, and appends."""

    def __init__(
        self, pool: AsyncConnectionPool, appender: Appender, loader: StreamLoader | None = None
    ) -> None:
        self._pool = pool
        self._appender = appender
        self._loader = loader or StreamLoader(pool)
        self._codec = EventCodec()
        # Assets and templates never change after creation, so caching them cannot go stale.
        self._immutable: OrderedDict[UUID, Aggregate] = OrderedDict()

    # -- institutions and keys -------------------------------------------------------------

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

    # -- policies, templates, assets ---------------------------------------------------------

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

    # -- positions ---------------------------------------------------------------------------

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

    # -- loading -----------------------------------------------------------------------------

    async def position_as_of(self, position_id: UUID, at: datetime) -> Position | None:
        """The position as it stood at `at`, replayed from the log (None if not yet opened)."""
        events = (await self._loader.load(position_id))[position_id]
        found = self._codec.rebuild(events, until=at)
        return found if isinstance(found, Position) else None

    async def get(self, kind: type[A], aggregate_id: UUID, ctx: CommandContext) -> A:
        """Load an aggregate the actor may see; NotFound or Forbidden otherwise."""
        found = await self._find(kind, aggregate_id)
        if found is None:
            raise NotFound(f"{_label(kind)} not found")
        owner = found.id if isinstance(found, Institution) else found.institution_id  # type: ignore[attr-defined]
        self._check_tenant(ctx, owner)
        return found

    async def _find(self, kind: type[A], aggregate_id: UUID) -> A | None:
        cached = self._immutable.get(aggregate_id)
        if cached is not None:
            return cached if isinstance(cached, kind) else None
        events = (await self._loader.load(aggregate_id))[aggregate_id]
        found = self._codec.rebuild(events)
        if isinstance(found, Asset | AssetTemplate):
            self._remember(found)
        return found if isinstance(found, kind) else None

    def _remember(self, aggregate: Aggregate) -> None:
        self._immutable[aggregate.id] = aggregate
        if len(self._immutable) > IMMUTABLE_CACHE_SIZE:
            self._immutable.popitem(last=False)

    @staticmethod
    def _check_tenant(ctx: CommandContext, institution_id: UUID) -> None:
        access.require_tenant(ctx.actor, institution_id)

    # -- appending ---------------------------------------------------------------------------

    async def _command(
        self,
        ctx: CommandContext,
        action: str,
        decide: Callable[[], Awaitable[Decision[T]]],
        *,
        retry_conflicts: bool = False,
    ) -> Outcome[T]:
        """Replay, or decide and append; with `retry_conflicts`, a lost race decides again."""
        for attempt in range(CONFLICT_RETRIES + 1):
            replay = await self._replay(ctx)
            if replay is not None:
                return replay
            try:
                return await self._save(ctx, action, await decide())
            except ConcurrencyConflict:
                if not retry_conflicts or attempt == CONFLICT_RETRIES:
                    raise
            # Jittered so that the losers of one race do not all meet again in the next.
            ceiling = min(CONFLICT_BACKOFF_S * (attempt + 1), CONFLICT_BACKOFF_MAX_S)
            await asyncio.sleep(random.uniform(0, ceiling))
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _replay(self, ctx: CommandContext) -> Outcome[Any] | None:
        """The recorded answer when this idempotency key was already used with this request."""
        if ctx.idempotency is None:
            return None
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT request_hash, status, response FROM idempotency_keys"
                " WHERE scope = %s AND key = %s",
                (ctx.idempotency_scope, ctx.idempotency.key),
            )
            row = await cur.fetchone()
        if row is None:
            return None
        if bytes(row[0]) != ctx.idempotency.request_hash:
            raise IdempotencyMismatch(ctx.idempotency.key)
        return Outcome(None, replayed=StoredResponse(row[1], bytes(row[2])))

    async def _save(self, ctx: CommandContext, action: str, decision: Decision[T]) -> Outcome[T]:
        events = self._codec.pending(*decision.aggregates)
        result, tenant_id = decision.result, decision.tenant_id
        record = None
        if ctx.idempotency is not None:
            if ctx.render is None:
                raise ValueError("an idempotency key needs a render function for its answer")
            record = IdempotencyRecord(
                scope=ctx.idempotency_scope,
                key=ctx.idempotency.key,
                request_hash=ctx.idempotency.request_hash,
                response=ctx.render(result),
            )
        if not events and record is None:
            return Outcome(result)
        meta: dict[str, object] = {
            "commandId": str(uuid4()),  # one command, however many events: one audit record
            "action": action,
            "actorKeyId": ctx.actor.key_id,
            "actorRole": ctx.actor.role.value,
            "institutionId": str(tenant_id),
            "requestId": ctx.request_id,
            "clientAddr": ctx.client_addr,
        }
        appended = await self._appender.append(
            AppendRequest(
                events=events,
                tenant_id=tenant_id,
                meta=meta,
                idempotency=record,
                read_versions=decision.read_versions,
            )
        )
        if appended.replayed is not None:
            return Outcome(None, replayed=appended.replayed)
        return Outcome(result, position=appended.last_position)


def _label(kind: type[Aggregate]) -> str:
    return {
        "Institution": "Institution",
        "AssetTemplate": "Asset template",
        "Asset": "Asset",
        "Position": "Position",
        "Policy": "Policy",
    }.get(kind.__name__, kind.__name__)
