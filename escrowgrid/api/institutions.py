"""Institutions, their API keys and their policies."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post, put
from psycopg import AsyncConnection

from escrowgrid.api import views
from escrowgrid.api.answers import answer
from escrowgrid.api.bodies import ApiKeyBody, InstitutionBody, PolicyBody
from escrowgrid.api.commanding import run
from escrowgrid.api.errors import ERROR_RESPONSES
from escrowgrid.api.guards import institution_admin, institution_member, root_only
from escrowgrid.api.media_type import require_json_body
from escrowgrid.api.params import INSTITUTION, path_id
from escrowgrid.api.scoping import visible_or_404
from escrowgrid.api.services import Services
from escrowgrid.application import access
from escrowgrid.application.context import Actor
from escrowgrid.application.errors import NotFound
from escrowgrid.domain.vocabulary import parse_region
from projections.api_keys import queries as api_key_queries
from projections.api_keys.views import ApiKeyView
from projections.institutions import queries as institution_queries
from projections.institutions.views import InstitutionView
from projections.policies import queries as policy_queries
from projections.policies.views import PolicyView


class InstitutionController(Controller):
    path = "/institutions"
    tags = ["institutions"]

    @post(
        "",
        responses=ERROR_RESPONSES,
        operation_id="createInstitution",
        status_code=201,
        guards=[require_json_body, root_only],
    )
    async def create(
        self, request: Request[Any, Any, Any], services: Services, data: InstitutionBody
    ) -> Response[InstitutionView]:
        return await run(
            request, services,
            lambda ctx: services.ledger.register_institution(
                ctx, name=data.name, regions=data.regions, verticals=data.verticals
            ),
            views.institution, 201,
        )  # fmt: skip

    @get("", responses=ERROR_RESPONSES, operation_id="listInstitutions")
    async def list_all(
        self, actor: Actor, conn: AsyncConnection[Any]
    ) -> Response[list[InstitutionView]]:
        return answer(await institution_queries.list_institutions(conn, access.own_scope(actor)))

    @get("/{id:str}", responses=ERROR_RESPONSES, operation_id="getInstitution")
    async def get_one(
        self, actor: Actor, conn: AsyncConnection[Any], id: str
    ) -> Response[InstitutionView]:
        lookup = institution_queries.get_institution(conn, path_id(id, INSTITUTION))
        return answer(await visible_or_404(lookup, actor, INSTITUTION, lambda found: found.id))

    # -- API keys (an admin's) ------------------------------------------------------------

    @post(
        "/{id:str}/api-keys",
        responses=ERROR_RESPONSES,
        operation_id="createApiKey",
        status_code=201,
        guards=[require_json_body, institution_admin],
    )
    async def create_key(
        self, request: Request[Any, Any, Any], services: Services, id: str, data: ApiKeyBody
    ) -> Response[dict[str, Any]]:
        iid = path_id(id, INSTITUTION)
        return await run(
            request, services,
            lambda ctx: services.ledger.issue_api_key(ctx, iid, label=data.label, role=data.role),
            views.issued_key, 201, kept_view=views.issued_key_replay,
        )  # fmt: skip

    @get(
        "/{id:str}/api-keys",
        responses=ERROR_RESPONSES,
        operation_id="listApiKeys",
        guards=[institution_admin],
    )
    async def list_keys(self, conn: AsyncConnection[Any], id: str) -> Response[list[ApiKeyView]]:
        return answer(await api_key_queries.list_api_keys(conn, path_id(id, INSTITUTION)))

    @post(
        "/{id:str}/api-keys/{keyId:str}/revoke",
        responses=ERROR_RESPONSES,
        operation_id="revokeApiKey",
        status_code=200,
        guards=[institution_admin],
    )
    async def revoke_key(
        self, request: Request[Any, Any, Any], services: Services, id: str, keyId: str
    ) -> Response[ApiKeyView]:
        iid = path_id(id, INSTITUTION)
        return await run(
            request, services,
            lambda ctx: services.ledger.revoke_api_key(ctx, iid, keyId),
            lambda record: views.api_key(record, iid),
        )  # fmt: skip

    # -- policies (set by an admin, read by any key of the institution) ------------------------

    @put(
        "/{id:str}/policies/{region:str}",
        responses=ERROR_RESPONSES,
        operation_id="upsertPolicy",
        guards=[require_json_body, institution_admin],
    )
    async def put_policy(
        self,
        request: Request[Any, Any, Any],
        services: Services,
        id: str,
        region: str,
        data: PolicyBody,
    ) -> Response[PolicyView]:
        iid = path_id(id, INSTITUTION)
        return await run(
            request, services,
            lambda ctx: services.ledger.set_policy(
                ctx, iid, region=region, position=data.position
            ),
            views.policy,
        )  # fmt: skip

    @get(
        "/{id:str}/policies",
        responses=ERROR_RESPONSES,
        operation_id="listPolicies",
        guards=[institution_member],
    )
    async def list_policies(
        self, conn: AsyncConnection[Any], id: str
    ) -> Response[list[PolicyView]]:
        return answer(await policy_queries.list_policies(conn, path_id(id, INSTITUTION)))

    @get(
        "/{id:str}/policies/{region:str}",
        responses=ERROR_RESPONSES,
        operation_id="getPolicy",
        guards=[institution_member],
    )
    async def get_policy(
        self, conn: AsyncConnection[Any], id: str, region: str
    ) -> Response[PolicyView]:
        parsed = parse_region(region, "region")
        found = await policy_queries.get_policy(conn, path_id(id, INSTITUTION), parsed.value)
        if found is None:
            raise NotFound("Policy not found")
        return answer(found)
