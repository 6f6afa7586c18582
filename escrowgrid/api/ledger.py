"""The auditor's view: ledger events, the global event feed, the digest, the audit trail."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, get
from litestar.params import Parameter

from escrowgrid.api.answers import answer
from escrowgrid.api.commanding import actor_of
from escrowgrid.api.errors import ERROR_RESPONSES
from escrowgrid.api.history import stored_fields
from escrowgrid.api.scoping import (
    MAX_LOG_POSITION,
    POSITION,
    InstitutionId,
    Limit,
    Offset,
    filter_id,
    institution_scope,
    query_time,
)
from escrowgrid.api.services import Services
from escrowgrid.application.errors import Forbidden
from escrowgrid.domain.errors import ValidationError
from escrowgrid.eventlog.reader import read_after, read_tenant_after
from projections import queries
from projections.views import AuditEventView, LedgerEventView, Page

# Accepted commands (from the log) and refused ones (answered 4xx, nothing written).
Outcome = Literal["accepted", "refused"]


class FeedEvent(msgspec.Struct, rename="camel"):
    position: int
    stream_id: Any
    version: int
    type: str
    institution_id: Any
    recorded_at: Any
    prev_hash: str | None
    hash: str
    payload: Any
    meta: dict[str, Any]


class Feed(msgspec.Struct, rename="camel"):
    data: list[FeedEvent]
    next_after: int
    has_more: bool


class LedgerController(Controller):
    path = ""
    tags = ["ledger"]

    @get("/ledger-events", responses=ERROR_RESPONSES, operation_id="listLedgerEvents")
    async def ledger_events(
        self,
        request: Request[Any, Any, Any],
        services: Services,
        position_id: Annotated[str | None, Parameter(query="positionId")] = None,
    ) -> Response[list[LedgerEventView]]:
        actor = actor_of(request)
        if position_id is None and not actor.is_root:
            raise ValidationError.single("positionId", "is required for institution keys")
        async with services.pool.connection() as conn:
            pid = await filter_id(conn, actor, position_id, "positionId", POSITION)
            found = await queries.list_ledger_events(conn, position_id=pid, institution_id=None)
        return answer(found)

    @get("/events", responses=ERROR_RESPONSES, operation_id="listEvents")
    async def events(
        self,
        request: Request[Any, Any, Any],
        services: Services,
        after: Annotated[int, Parameter(ge=0, le=MAX_LOG_POSITION, query="after")] = 0,
        limit: Limit = 100,
    ) -> Response[Feed]:
        actor = actor_of(request)
        async with services.pool.connection() as conn:
            if actor.is_root:
                records = await read_after(conn, after, limit + 1)
            else:
                assert actor.institution_id is not None
                records = await read_tenant_after(conn, actor.institution_id, after, limit + 1)
        more = len(records) > limit
        records = records[:limit]
        data = [
            FeedEvent(**stored_fields(r), stream_id=r.stream_id, institution_id=r.tenant_id)
            for r in records
        ]
        return answer(Feed(data, records[-1].position if records else after, more))

    @get("/ledger/digest", responses=ERROR_RESPONSES, operation_id="getLedgerDigest")
    async def digest(
        self, request: Request[Any, Any, Any], services: Services
    ) -> Response[dict[str, Any]]:
        # The digest and its position cover every institution's events: root only.
        if not actor_of(request).is_root:
            raise Forbidden("Forbidden: the ledger digest needs the root key")
        async with services.pool.connection() as conn:
            position, digest = await queries.current_digest(conn)
        return answer({"position": position, "digest": digest, "algorithm": "sha256-chain-v1"})

    @get("/audit-events", responses=ERROR_RESPONSES, operation_id="listAuditEvents")
    async def audit_events(
        self,
        request: Request[Any, Any, Any],
        services: Services,
        institution_id: InstitutionId = None,
        action: Annotated[str | None, Parameter(query="action", max_length=100)] = None,
        outcome: Annotated[Outcome | None, Parameter(query="outcome")] = None,
        since: Annotated[str | None, Parameter(query="since")] = None,
        until: Annotated[str | None, Parameter(query="until")] = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> Response[Page[AuditEventView]]:
        actor = actor_of(request)
        if not actor.is_root and actor.role.value != "admin":
            raise Forbidden("Forbidden: an admin key of the institution is required")
        async with services.pool.connection() as conn:
            iid = await institution_scope(conn, actor, institution_id)
            page = await queries.list_audit_events(
                conn, institution_id=iid, action=action, outcome=outcome,
                since=query_time(since, "since"),
                until=query_time(until, "until"), limit=limit, offset=offset,
            )  # fmt: skip
        return answer(page)
