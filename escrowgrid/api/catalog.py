"""Asset templates and assets."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.params import Parameter
from psycopg import AsyncConnection

from escrowgrid.api import views
from escrowgrid.api.answers import answer
from escrowgrid.api.bodies import AssetBody, AssetTemplateBody
from escrowgrid.api.commanding import run
from escrowgrid.api.errors import ERROR_RESPONSES
from escrowgrid.api.media_type import require_json_body
from escrowgrid.api.params import (
    ASSET,
    ASSET_TEMPLATE,
    InstitutionId,
    Limit,
    Offset,
    named_id,
    path_id,
)
from escrowgrid.api.scoping import acting_institution, filter_id, institution_scope, visible_or_404
from escrowgrid.api.services import Services
from escrowgrid.application.context import Actor
from projections.asset_templates import queries as template_queries
from projections.asset_templates.views import AssetTemplateView
from projections.assets import queries as asset_queries
from projections.assets.views import AssetView
from projections.framework.shapes import Page


class AssetTemplateController(Controller):
    path = "/asset-templates"
    tags = ["asset-templates"]

    @post(
        "",
        responses=ERROR_RESPONSES,
        operation_id="createAssetTemplate",
        status_code=201,
        guards=[require_json_body],
    )
    async def create(
        self,
        request: Request[Any, Any, Any],
        actor: Actor,
        services: Services,
        data: AssetTemplateBody,
    ) -> Response[AssetTemplateView]:
        iid = await acting_institution(services.pool, actor, data.institution_id)
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
        actor: Actor,
        conn: AsyncConnection[Any],
        institution_id: InstitutionId = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> Response[Page[AssetTemplateView]]:
        iid = await institution_scope(conn, actor, institution_id)
        page = await template_queries.list_asset_templates(
            conn, institution_id=iid, limit=limit, offset=offset
        )
        return answer(page)

    @get("/{id:str}", responses=ERROR_RESPONSES, operation_id="getAssetTemplate")
    async def get_one(
        self, actor: Actor, conn: AsyncConnection[Any], id: str
    ) -> Response[AssetTemplateView]:
        lookup = template_queries.get_asset_template(conn, path_id(id, ASSET_TEMPLATE))
        return answer(await visible_or_404(lookup, actor, ASSET_TEMPLATE))


class AssetController(Controller):
    path = "/assets"
    tags = ["assets"]

    @post(
        "",
        responses=ERROR_RESPONSES,
        operation_id="createAsset",
        status_code=201,
        guards=[require_json_body],
    )
    async def create(
        self, request: Request[Any, Any, Any], actor: Actor, services: Services, data: AssetBody
    ) -> Response[AssetView]:
        iid = await acting_institution(services.pool, actor, data.institution_id)
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
        actor: Actor,
        conn: AsyncConnection[Any],
        institution_id: InstitutionId = None,
        template_id: Annotated[str | None, Parameter(query="templateId")] = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> Response[Page[AssetView]]:
        iid = await institution_scope(conn, actor, institution_id)
        tid = await filter_id(conn, actor, template_id, "templateId", ASSET_TEMPLATE)
        page = await asset_queries.list_assets(
            conn, institution_id=iid, template_id=tid, limit=limit, offset=offset
        )
        return answer(page)

    @get("/{id:str}", responses=ERROR_RESPONSES, operation_id="getAsset")
    async def get_one(
        self, actor: Actor, conn: AsyncConnection[Any], id: str
    ) -> Response[AssetView]:
        lookup = asset_queries.get_asset(conn, path_id(id, ASSET))
        return answer(await visible_or_404(lookup, actor, ASSET))
