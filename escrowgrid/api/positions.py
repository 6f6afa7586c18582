"""Positions: open, list, read (now or as of a time), move, and their hash-chained history."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.params import Parameter
from psycopg import AsyncConnection

from escrowgrid.api import views
from escrowgrid.api.answers import answer
from escrowgrid.api.bodies import PositionBody, TransitionBody
from escrowgrid.api.commanding import run
from escrowgrid.api.dependencies import read_connection
from escrowgrid.api.errors import ERROR_RESPONSES
from escrowgrid.api.history import PositionHistory, position_history
from escrowgrid.api.media_type import require_json_body
from escrowgrid.api.onchain import refuse_when_behind
from escrowgrid.api.params import (
    ASSET,
    POSITION,
    InstitutionId,
    Limit,
    Offset,
    named_id,
    path_id,
    query_time,
)
from escrowgrid.api.scoping import (
    acting_institution,
    filter_id,
    institution_scope,
    visible,
    visible_or_404,
)
from escrowgrid.api.services import Services
from escrowgrid.application.context import Actor
from escrowgrid.domain import PositionState
from escrowgrid.onchain.records import OnchainRecords, records_of
from escrowgrid.queries.as_of import position_as_of
from projections.framework.shapes import Page
from projections.positions import queries
from projections.positions.views import PositionView


class PositionController(Controller):
    path = "/positions"
    tags = ["positions"]

    @post(
        "",
        responses=ERROR_RESPONSES,
        operation_id="createPosition",
        status_code=201,
        guards=[require_json_body],
    )
    async def create(
        self, request: Request[Any, Any, Any], actor: Actor, services: Services, data: PositionBody
    ) -> Response[PositionView]:
        iid = await acting_institution(services.pool, actor, data.institution_id)
        asset_id = named_id(data.asset_id, "assetId", ASSET)
        await refuse_when_behind(services, asset_id=asset_id)
        return await run(
            request, services,
            lambda ctx: services.ledger.open_position(
                ctx, iid, asset_id=asset_id, holder_reference=data.holder_reference,
                currency=data.currency, amount=data.amount,
                external_reference=data.external_reference,
            ),
            views.position, 201,
        )  # fmt: skip

    @get("", responses=ERROR_RESPONSES, operation_id="listPositions")
    async def list_all(
        self,
        actor: Actor,
        conn: AsyncConnection[Any],
        institution_id: InstitutionId = None,
        asset_id: Annotated[str | None, Parameter(query="assetId")] = None,
        holder_reference: Annotated[str | None, Parameter(query="holderReference")] = None,
        position_state: Annotated[PositionState | None, Parameter(query="state")] = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> Response[Page[PositionView]]:
        iid = await institution_scope(conn, actor, institution_id)
        aid = await filter_id(conn, actor, asset_id, "assetId", ASSET)
        page = await queries.list_positions(
            conn, institution_id=iid, asset_id=aid,
            holder_reference=holder_reference, limit=limit, offset=offset,
            state=None if position_state is None else position_state.value,
        )  # fmt: skip
        return answer(page)

    @get("/{id:str}", responses=ERROR_RESPONSES, operation_id="getPosition")
    async def get_one(
        self,
        request: Request[Any, Any, Any],
        actor: Actor,
        services: Services,
        id: str,
        as_of: Annotated[str | None, Parameter(query="asOf")] = None,
    ) -> Response[PositionView]:
        # No `conn` dependency: the replay as of a time waits on the loader's own connections,
        # and holding one of the pool's meanwhile could starve them under load.
        pid = path_id(id, POSITION)
        if as_of is None:
            async with read_connection(request, services) as conn:
                found = await visible_or_404(queries.get_position(conn, pid), actor, POSITION)
            return answer(found)
        at = query_time(as_of, "asOf")
        assert at is not None
        # Tenancy first: whether another tenant's position existed at `at` is its content.
        async with services.pool.connection() as conn:
            await visible(conn, actor, POSITION, pid)
        then = await position_as_of(services.loader, pid, at)
        if then is None:
            raise POSITION.not_found()
        return answer(views.position(then))

    @post(
        "/{id:str}/transition",
        responses=ERROR_RESPONSES,
        operation_id="transitionPosition",
        status_code=200,
        guards=[require_json_body],
    )
    async def transition(
        self,
        request: Request[Any, Any, Any],
        services: Services,
        id: str,
        data: TransitionBody,
    ) -> Response[PositionView]:
        pid = path_id(id, POSITION)
        await refuse_when_behind(services, position_id=pid)
        return await run(
            request, services,
            lambda ctx: services.ledger.move_position(
                ctx, pid, to_state=data.to_state, reason=data.reason,
                metadata=data.metadata, amount=data.amount,
            ),
            views.position,
        )  # fmt: skip

    @get("/{id:str}/onchain", responses=ERROR_RESPONSES, operation_id="getPositionOnchain")
    async def onchain(
        self, actor: Actor, conn: AsyncConnection[Any], id: str
    ) -> Response[OnchainRecords]:
        """The position's events on the chain: transaction, block and status of each."""
        pid = path_id(id, POSITION)
        await visible(conn, actor, POSITION, pid)
        return answer(await records_of(conn, pid))

    @get("/{id:str}/history", responses=ERROR_RESPONSES, operation_id="getPositionHistory")
    async def history(
        self, actor: Actor, conn: AsyncConnection[Any], id: str
    ) -> Response[PositionHistory]:
        found = await visible_or_404(position_history(conn, path_id(id, POSITION)), actor, POSITION)
        return answer(found)
