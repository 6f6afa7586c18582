"""The machinery every command shares: load aggregates, let the domain decide, append or replay."""

from __future__ import annotations

import asyncio
import random
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate

from escrowgrid.application import access
from escrowgrid.application.context import CommandContext
from escrowgrid.application.errors import NotFound
from escrowgrid.application.event_store import EventStore
from escrowgrid.application.idempotency import record_for, replayed
from escrowgrid.application.stream_cache import ATTEMPT, Attempt, StreamCache
from escrowgrid.domain.asset import Asset
from escrowgrid.domain.asset_template import AssetTemplate
from escrowgrid.domain.institution import Institution
from escrowgrid.domain.policy import Policy
from escrowgrid.eventlog.codec import EventCodec
from escrowgrid.eventlog.errors import ConcurrencyConflict
from escrowgrid.eventlog.records import AppendRequest, StoredResponse

A = TypeVar("A", bound=Aggregate)
T = TypeVar("T")

IMMUTABLE_CACHE_SIZE = 10_000
# An upsert retries a lost race this often (n racers may need n - 1 retries for the last one),
# sleeping a random time up to CONFLICT_BACKOFF_S * attempt, at most CONFLICT_BACKOFF_MAX_S.
CONFLICT_RETRIES = 50
CONFLICT_BACKOFF_S = 0.005
CONFLICT_BACKOFF_MAX_S = 0.1
# Streams a decision may take from the stream cache: every use of them is version-checked by
# the append (stream_cache.py). A policy is read by every position opened under it.
CACHED_KINDS: tuple[type[Aggregate], ...] = (Policy,)


@dataclass(frozen=True, slots=True)
class Outcome(Generic[T]):
    """A command's result, or the recorded answer of an earlier request with the same key."""

    value: T | None
    replayed: StoredResponse | None = None
    position: int | None = None  # last log position written (None: nothing appended)
    topics: frozenset[str] = frozenset()  # of the events appended: which read models change


@dataclass(frozen=True, slots=True)
class Decision(Generic[T]):
    """What a command decided: the aggregates with new events, whose tenant, and the result."""

    tenant_id: UUID
    aggregates: list[Aggregate]
    result: T
    read_versions: dict[UUID, int] = field(default_factory=dict)


class CommandHandling:
    """The base of the command handlers: loading, tenancy, and the replay-decide-append loop."""

    def __init__(self, store: EventStore) -> None:
        self._store = store
        self._codec = EventCodec()
        # Assets and templates never change after creation, so caching them cannot go stale.
        self._immutable: OrderedDict[UUID, Aggregate] = OrderedDict()
        self._streams = StreamCache()

    # -- loading -----------------------------------------------------------------------------

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
        # The decision in progress, when this kind may come from the stream cache.
        attempt = ATTEMPT.get() if kind in CACHED_KINDS else None
        events = None
        if attempt is not None and not attempt.fresh:
            events = self._streams.get(aggregate_id)
            if events is not None:
                attempt.served.add(aggregate_id)
        if events is None:
            events = tuple((await self._store.load(aggregate_id))[aggregate_id])
            if attempt is not None:
                self._streams.put(aggregate_id, events)
        if attempt is not None:
            attempt.based_on[aggregate_id] = events
        found = self._codec.rebuild(list(events))
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
                return Outcome(None, replayed=replay)
            try:
                return await self._decide_and_save(ctx, action, decide)
            except ConcurrencyConflict:
                if not retry_conflicts or attempt == CONFLICT_RETRIES:
                    raise
            # Jittered so that the losers of one race do not all meet again in the next.
            ceiling = min(CONFLICT_BACKOFF_S * (attempt + 1), CONFLICT_BACKOFF_MAX_S)
            await asyncio.sleep(random.uniform(0, ceiling))
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _decide_and_save(
        self, ctx: CommandContext, action: str, decide: Callable[[], Awaitable[Decision[T]]]
    ) -> Outcome[T]:
        """Decide and append; a decision on cached streams that fails is taken again once on
        streams from the log (a refusal or a conflict may be the cache's being stale)."""
        attempt = Attempt()
        token = ATTEMPT.set(attempt)
        try:
            try:
                decision = await decide()
            except Exception:
                if not attempt.served:
                    raise
                return await self._decide_afresh(ctx, action, decide, attempt)
            try:
                return await self._save(ctx, action, decision, attempt)
            except ConcurrencyConflict:
                if not attempt.served:
                    raise
                return await self._decide_afresh(ctx, action, decide, attempt)
        finally:
            ATTEMPT.reset(token)

    async def _decide_afresh(
        self,
        ctx: CommandContext,
        action: str,
        decide: Callable[[], Awaitable[Decision[T]]],
        stale: Attempt,
    ) -> Outcome[T]:
        self._streams.evict(stale.served)
        attempt = Attempt(fresh=True)
        ATTEMPT.set(attempt)
        return await self._save(ctx, action, await decide(), attempt)

    async def _replay(self, ctx: CommandContext) -> StoredResponse | None:
        """The recorded answer when this idempotency key was already used with this request."""
        if ctx.idempotency is None:
            return None
        found = await self._store.idempotency_record(ctx.idempotency_scope, ctx.idempotency.key)
        return replayed(ctx, found)

    async def _save(
        self, ctx: CommandContext, action: str, decision: Decision[T], attempt: Attempt
    ) -> Outcome[T]:
        events = self._codec.pending(*decision.aggregates)
        result, tenant_id = decision.result, decision.tenant_id
        record = record_for(ctx, result)
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
        # Cached streams this command writes: after the append, theirs are the events.
        written = {e.stream_id for e in events if e.stream_id in attempt.based_on}
        try:
            appended = await self._store.append(
                AppendRequest(
                    events=events,
                    tenant_id=tenant_id,
                    meta=meta,
                    idempotency=record,
                    read_versions=decision.read_versions,
                )
            )
        except BaseException:
            self._streams.evict(written)  # perhaps appended, perhaps not
            raise
        if appended.replayed is not None:
            self._streams.evict(written)
            return Outcome(None, replayed=appended.replayed)
        for sid in written:
            mine = tuple(e for e in events if e.stream_id == sid)
            self._streams.put(sid, attempt.based_on[sid] + mine)
        topics = frozenset(e.topic for e in events)
        return Outcome(result, position=appended.last_position, topics=topics)


def _label(kind: type[Aggregate]) -> str:
    return {
        "Institution": "Institution",
        "AssetTemplate": "Asset template",
        "Asset": "Asset",
        "Position": "Position",
        "Policy": "Policy",
    }.get(kind.__name__, kind.__name__)
