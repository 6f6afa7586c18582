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
    ASSET,
    ASSET_TEMPLATE,
    InstitutionId,
    Limit,
    Offset,
    acting_institution,
    ensure_visible,
    filter_id,
    institution_scope,
    named_id,
    path_id,
)
from escrowgrid.api.services import Services
from escrowgrid.application.errors import NotFound
from projections import queries
from projections.views import AssetTemplateView, AssetView, Page


class AssetTemplateController(Controller):
    path = "/asset-templates"
    tags = ["asset-templates"]

    @post("", responses=ERROR_RESPONSES, operation_id="createAssetTemplate", status_code=201)
    async def create(
        self, request: Request[Any, Any, Any], services: Services, data: AssetTemplateBody
    ) -> Response[AssetTemplateView]:
        iid = await acting_institution(services.pool, actor_of(request), data.institution_id)
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
        async with services.pool.connection() as conn:
            iid = await institution_scope(conn, actor_of(request), institution_id)
            page = await queries.list_asset_templates(
                conn, institution_id=iid, limit=limit, offset=offset
            )
        return answer(page)

    @get("/{id:str}", responses=ERROR_RESPONSES, operation_id="getAssetTemplate")
    async def get_one(
        self, request: Request[Any, Any, Any], services: Services, id: str
    ) -> Response[AssetTemplateView]:
        tid = path_id(id, ASSET_TEMPLATE)
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
        iid = await acting_institution(services.pool, actor_of(request), data.institution_id)
        template_id = named_id(data.template_id, "templateId", ASSET_TEMPLATE)
        return await run(
            request, services,
            lambda ctx: services.ledger.register_asset(
                ctx, iid, template_id=template_id, label=data.label,
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
        actor = actor_of(request)
        async with services.pool.connection() as conn:
            iid = await institution_scope(conn, actor, institution_id)
            tid = await filter_id(conn, actor, template_id, "templateId", ASSET_TEMPLATE)
            page = await queries.list_assets(
                conn, institution_id=iid, template_id=tid, limit=limit, offset=offset
            )
        return answer(page)

    @get("/{id:str}", responses=ERROR_RESPONSES, operation_id="getAsset")
    async def get_one(
        self, request: Request[Any, Any, Any], services: Services, id: str
    ) -> Response[AssetView]:
        aid = path_id(id, ASSET)
        async with services.pool.connection() as conn:
            found = await queries.get_asset(conn, aid)
        if found is None:
            raise NotFound("Asset not found")
        ensure_visible(actor_of(request), found.institution_id)
        return answer(found)
