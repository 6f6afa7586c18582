"""Asset templates and assets."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.params import Parameter

from escrowgrid.api import views
from escrowgrid.api.answers import answer
from escrowgrid.api.bodies import AssetBody, AssetTemplateBody
from escrowgrid.api.commanding import actor_of, run
from escrowgrid.api.errors import ERROR_RESPONSES
from escrowgrid.api.scoping import (
    InstitutionId,
    Limit,
    Offset,
    acting_institution,
    ensure_visible,
    institution_filter,
    path_id,
    query_id,
)
from escrowgrid.api.services import Services
from escrowgrid.command_context import NotFound
from projections import queries
from projections.views import AssetTemplateView, AssetView, Page


class AssetTemplateController(Controller):
    path = "/asset-templates"
    tags = ["asset-templates"]

    @post("", responses=ERROR_RESPONSES, operation_id="createAssetTemplate", status_code=201)
    async def create(
        self, request: Request[Any, Any, Any], services: Services, data: AssetTemplateBody
    ) -> Response[AssetTemplateView]:
        iid = acting_institution(actor_of(request), data.institution_id)
        return await run(
            request, services,
            lambda ctx: services.ledger.define_template(
                ctx, iid, code=data.code, name=data.name, vertical=data.vertical,
                region=data.region, config=data.config,
            ),
            views.asset_template, 201,
        )  # fmt: skip

    @get("", responses=ERROR_RESPONSES, operation_id="listAssetTemplates")
    async def list_all(
        self,
        request: Request[Any, Any, Any],
        services: Services,
        institution_id: InstitutionId = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> Response[Page[AssetTemplateView]]:
        iid = institution_filter(actor_of(request), query_id(institution_id, "institutionId"))
        async with services.pool.connection() as conn:
            page = await queries.list_asset_templates(
                conn, institution_id=iid, limit=limit, offset=offset
            )
        return answer(page)

    @get("/{template_id:str}", responses=ERROR_RESPONSES, operation_id="getAssetTemplate")
    async def get_one(
        self, request: Request[Any, Any, Any], services: Services, template_id: str
    ) -> Response[AssetTemplateView]:
        tid = path_id(template_id, "Asset template")
        async with services.pool.connection() as conn:
            found = await queries.get_asset_template(conn, tid)
        if found is None:
            raise NotFound("Asset template not found")
        ensure_visible(actor_of(request), found.institution_id)
        return answer(found)


class AssetController(Controller):
    path = "/assets"
    tags = ["assets"]

    @post("", responses=ERROR_RESPONSES, operation_id="createAsset", status_code=201)
    async def create(
        self, request: Request[Any, Any, Any], services: Services, data: AssetBody
    ) -> Response[AssetView]:
        iid = acting_institution(actor_of(request), data.institution_id)
        return await run(
            request, services,
            lambda ctx: services.ledger.register_asset(
                ctx, iid, template_id=data.template_id, label=data.label,
                metadata=data.metadata,
            ),
            views.asset, 201,
        )  # fmt: skip

    @get("", responses=ERROR_RESPONSES, operation_id="listAssets")
    async def list_all(
        self,
        request: Request[Any, Any, Any],
        services: Services,
        institution_id: InstitutionId = None,
        template_id: Annotated[str | None, Parameter(query="templateId")] = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> Response[Page[AssetView]]:
        iid = institution_filter(actor_of(request), query_id(institution_id, "institutionId"))
        tid = query_id(template_id, "templateId")
        async with services.pool.connection() as conn:
            page = await queries.list_assets(
                conn, institution_id=iid, template_id=tid, limit=limit, offset=offset
            )
        return answer(page)

    @get("/{asset_id:str}", responses=ERROR_RESPONSES, operation_id="getAsset")
    async def get_one(
        self, request: Request[Any, Any, Any], services: Services, asset_id: str
    ) -> Response[AssetView]:
        aid = path_id(asset_id, "Asset")
        async with services.pool.connection() as conn:
            found = await queries.get_asset(conn, aid)
        if found is None:
            raise NotFound("Asset not found")
        ensure_visible(actor_of(request), found.institution_id)
        return answer(found)
