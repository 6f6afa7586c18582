"""The auditor's view: ledger events, the global event feed, the digest, the audit trail."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Response, get
from litestar.params import Parameter
from psycopg import AsyncConnection

from escrowgrid.api.answers import answer
from escrowgrid.api.errors import ERROR_RESPONSES
from escrowgrid.api.guards import admin_key, root_only
from escrowgrid.api.history import stored_fields
from escrowgrid.api.params import (
    MAX_LOG_POSITION,
    POSITION,
    InstitutionId,
    Limit,
    Offset,
    query_time,
)
from escrowgrid.api.scoping import filter_id, institution_scope
from escrowgrid.api.services import Services
from escrowgrid.application import access
from escrowgrid.application.context import Actor
from escrowgrid.eventlog.reader import read_after, read_tenant_after
from projections.audit_events import queries as audit_queries
from projections.audit_events.views import AuditEventView
from projections.framework.shapes import Page
from projections.ledger_digest import queries as digest_queries
from projections.ledger_events import queries as ledger_queries
from projections.ledger_events.views import LedgerEventView

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
        actor: Actor,
        conn: AsyncConnection[Any],
        position_id: Annotated[str | None, Parameter(query="positionId")] = None,
    ) -> Response[list[LedgerEventView]]:
        access.require_filter(actor, position_id, "positionId")
        pid = await filter_id(conn, actor, position_id, "positionId", POSITION)
        return answer(
            await ledger_queries.list_ledger_events(conn, position_id=pid, institution_id=None)
        )

    @get("/events", responses=ERROR_RESPONSES, operation_id="listEvents")
    async def events(
        self,
        actor: Actor,
        conn: AsyncConnection[Any],
        after: Annotated[int, Parameter(ge=0, le=MAX_LOG_POSITION, query="after")] = 0,
        limit: Limit = 100,
    ) -> Response[Feed]:
        tenant = access.own_scope(actor)
        if tenant is None:
            records = await read_after(conn, after, limit + 1)
        else:
            records = await read_tenant_after(conn, tenant, after, limit + 1)
        more = len(records) > limit
        records = records[:limit]
        data = [
            FeedEvent(**stored_fields(r), stream_id=r.stream_id, institution_id=r.tenant_id)
            for r in records
        ]
        return answer(Feed(data, records[-1].position if records else after, more))

    # The digest and its position cover every institution's events: root only.
    @get(
        "/ledger/digest",
        responses=ERROR_RESPONSES,
        operation_id="getLedgerDigest",
        guards=[root_only],
    )
    async def digest(self, services: Services) -> Response[dict[str, Any]]:
        # On the primary: commands do not wait for this model, so a replica confirmed after a
        # command may not hold its rows yet; the wait below is for the primary's.
        async with services.pool.connection() as conn:
            await services.wait_caught_up(conn, "ledger_digest")
            position, digest = await digest_queries.current_digest(conn)
        return answer({"position": position, "digest": digest, "algorithm": "sha256-chain-v1"})

    @get(
        "/audit-events",
        responses=ERROR_RESPONSES,
        operation_id="listAuditEvents",
        guards=[admin_key],
    )
    async def audit_events(
        self,
        actor: Actor,
        services: Services,
        institution_id: InstitutionId = None,
        action: Annotated[str | None, Parameter(query="action", max_length=100)] = None,
        outcome: Annotated[Outcome | None, Parameter(query="outcome")] = None,
        since: Annotated[str | None, Parameter(query="since")] = None,
        until: Annotated[str | None, Parameter(query="until")] = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> Response[Page[AuditEventView]]:
        # On the primary, as the digest above: no command waits for the audit model.
        async with services.pool.connection() as conn:
            iid = await institution_scope(conn, actor, institution_id)
            await services.wait_caught_up(conn, "audit_events")
            page = await audit_queries.list_audit_events(
                conn, institution_id=iid, action=action, outcome=outcome,
                since=query_time(since, "since"),
                until=query_time(until, "until"), limit=limit, offset=offset,
            )  # fmt: skip
        return answer(page)
