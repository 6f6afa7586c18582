"""Positions: open, list, read (now or as of a time), move, and their hash-chained history."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.params import Parameter

from escrowgrid.api import views
from escrowgrid.api.answers import answer
from escrowgrid.api.bodies import PositionBody, TransitionBody
from escrowgrid.api.commanding import actor_of, run
from escrowgrid.api.errors import ERROR_RESPONSES
from escrowgrid.api.history import position_history
from escrowgrid.api.scoping import (
    InstitutionId,
    Limit,
    Offset,
    acting_institution,
    ensure_visible,
    institution_filter,
    path_id,
    query_id,
    query_time,
)
from escrowgrid.api.services import Services
from escrowgrid.command_context import NotFound
from projections import queries
from projections.views import Page, PositionView


class PositionController(Controller):
    path = "/positions"
    tags = ["positions"]

    @post("", responses=ERROR_RESPONSES, operation_id="createPosition", status_code=201)
    async def create(
        self, request: Request[Any, Any, Any], services: Services, data: PositionBody
    ) -> Response[PositionView]:
        iid = acting_institution(actor_of(request), data.institution_id)
        return await run(
            request, services,
            lambda ctx: services.ledger.open_position(
                ctx, iid, asset_id=data.asset_id, holder_reference=data.holder_reference,
                currency=data.currency, amount=data.amount,
                external_reference=data.external_reference,
            ),
            views.position, 201,
        )  # fmt: skip

    @get("", responses=ERROR_RESPONSES, operation_id="listPositions")
    async def list_all(
        self,
        request: Request[Any, Any, Any],
        services: Services,
        institution_id: InstitutionId = None,
        asset_id: Annotated[str | None, Parameter(query="assetId")] = None,
        holder_reference: Annotated[str | None, Parameter(query="holderReference")] = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> Response[Page[PositionView]]:
        iid = institution_filter(actor_of(request), query_id(institution_id, "institutionId"))
        async with services.pool.connection() as conn:
            page = await queries.list_positions(
                conn, institution_id=iid, asset_id=query_id(asset_id, "assetId"),
                holder_reference=holder_reference, limit=limit, offset=offset,
            )  # fmt: skip
        return answer(page)

    @get("/{position_id:str}", responses=ERROR_RESPONSES, operation_id="getPosition")
    async def get_one(
        self,
        request: Request[Any, Any, Any],
        services: Services,
        position_id: str,
        as_of: Annotated[str | None, Parameter(query="asOf")] = None,
    ) -> Response[PositionView]:
        pid = path_id(position_id, "Position")
        actor = actor_of(request)
        if as_of is not None:
            at = query_time(as_of, "asOf")
            assert at is not None
            then = await services.ledger.position_as_of(pid, at)
            if then is None:
                raise NotFound("Position not found")
            ensure_visible(actor, then.institution_id)
            return answer(views.position(then))
        async with services.pool.connection() as conn:
            found = await queries.get_position(conn, pid)
        if found is None:
            raise NotFound("Position not found")
        ensure_visible(actor, found.institution_id)
        return answer(found)

    @post(
        "/{position_id:str}/transition",
        responses=ERROR_RESPONSES,
        operation_id="transitionPosition",
        status_code=200,
    )
    async def transition(
        self,
        request: Request[Any, Any, Any],
        services: Services,
        position_id: str,
        data: TransitionBody,
    ) -> Response[PositionView]:
        pid = path_id(position_id, "Position")
        return await run(
            request, services,
            lambda ctx: services.ledger.move_position(
                ctx, pid, to_state=data.to_state, reason=data.reason,
                metadata=data.metadata, amount=data.amount,
            ),
            views.position,
        )  # fmt: skip

    @get("/{position_id:str}/history", responses=ERROR_RESPONSES, operation_id="getPositionHistory")
    async def history(
        self, request: Request[Any, Any, Any], services: Services, position_id: str
    ) -> Response[dict[str, Any]]:
        pid = path_id(position_id, "Position")
        async with services.pool.connection() as conn:
            found = await position_history(conn, pid)
        if found is None:
            raise NotFound("Position not found")
        ensure_visible(actor_of(request), found.institution_id)
        return answer(found)
