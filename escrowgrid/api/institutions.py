"""Institutions, their API keys and their policies."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post, put

from escrowgrid.api import views
from escrowgrid.api.answers import answer
from escrowgrid.api.bodies import ApiKeyBody, InstitutionBody, PolicyBody
from escrowgrid.api.commanding import actor_of, run
from escrowgrid.api.errors import ERROR_RESPONSES
from escrowgrid.api.scoping import INSTITUTION, ensure_visible, path_id, visible
from escrowgrid.api.services import Services
from escrowgrid.application.errors import Forbidden, NotFound
from escrowgrid.domain.vocabulary import parse_region
from projections import queries
from projections.views import ApiKeyView, InstitutionView, PolicyView


async def _institution(
    request: Request[Any, Any, Any], services: Services, id: str, *, admin: bool = False
) -> UUID:
    """The institution of the path: 404 unknown, 403 another one's (or not an admin's, if asked)."""
    actor = actor_of(request)
    iid = path_id(id, INSTITUTION)
    async with services.pool.connection() as conn:
        await visible(conn, actor, INSTITUTION, iid)
    if admin and not actor.is_root and actor.role.value != "admin":
        raise Forbidden("Forbidden: an admin key of the institution is required")
    return iid


class InstitutionController(Controller):
    path = "/institutions"
    tags = ["institutions"]

    @post("", responses=ERROR_RESPONSES, operation_id="createInstitution", status_code=201)
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
        self, request: Request[Any, Any, Any], services: Services
    ) -> Response[list[InstitutionView]]:
        actor = actor_of(request)
        async with services.pool.connection() as conn:
            found = await queries.list_institutions(
                conn, None if actor.is_root else actor.institution_id
            )
        return answer(found)

    @get("/{id:str}", responses=ERROR_RESPONSES, operation_id="getInstitution")
    async def get_one(
        self, request: Request[Any, Any, Any], services: Services, id: str
    ) -> Response[InstitutionView]:
        async with services.pool.connection() as conn:
            found = await queries.get_institution(conn, path_id(id, INSTITUTION))
        if found is None:
            raise NotFound("Institution not found")
        ensure_visible(actor_of(request), found.id)
        return answer(found)

    # -- API keys --------------------------------------------------------------------------

    @post(
        "/{id:str}/api-keys",
        responses=ERROR_RESPONSES,
        operation_id="createApiKey",
        status_code=201,
    )
    async def create_key(
        self, request: Request[Any, Any, Any], services: Services, id: str, data: ApiKeyBody
    ) -> Response[dict[str, Any]]:
        iid = await _institution(request, services, id, admin=True)
        return await run(
            request, services,
            lambda ctx: services.ledger.issue_api_key(ctx, iid, label=data.label, role=data.role),
            views.issued_key, 201, kept_view=views.issued_key_replay,
        )  # fmt: skip

    @get("/{id:str}/api-keys", responses=ERROR_RESPONSES, operation_id="listApiKeys")
    async def list_keys(
        self, request: Request[Any, Any, Any], services: Services, id: str
    ) -> Response[list[ApiKeyView]]:
        iid = await _institution(request, services, id, admin=True)
        async with services.pool.connection() as conn:
            return answer(await queries.list_api_keys(conn, iid))

    @post(
        "/{id:str}/api-keys/{keyId:str}/revoke",
        responses=ERROR_RESPONSES,
        operation_id="revokeApiKey",
        status_code=200,
    )
    async def revoke_key(
        self, request: Request[Any, Any, Any], services: Services, id: str, keyId: str
    ) -> Response[ApiKeyView]:
        iid = await _institution(request, services, id, admin=True)
        return await run(
            request, services,
            lambda ctx: services.ledger.revoke_api_key(ctx, iid, keyId),
            lambda record: views.api_key(record, iid),
        )  # fmt: skip

    # -- policies ----------------------------------------------------------------------------

    @put(
        "/{id:str}/policies/{region:str}",
        responses=ERROR_RESPONSES,
        operation_id="upsertPolicy",
    )
    async def put_policy(
        self,
        request: Request[Any, Any, Any],
        services: Services,
        id: str,
        region: str,
        data: PolicyBody,
    ) -> Response[PolicyView]:
        iid = await _institution(request, services, id, admin=True)
        return await run(
            request, services,
            lambda ctx: services.ledger.set_policy(
                ctx, iid, region=region, position=data.position
            ),
            views.policy,
        )  # fmt: skip

    @get("/{id:str}/policies", responses=ERROR_RESPONSES, operation_id="listPolicies")
    async def list_policies(
        self, request: Request[Any, Any, Any], services: Services, id: str
    ) -> Response[list[PolicyView]]:
        iid = await _institution(request, services, id)
        async with services.pool.connection() as conn:
            return answer(await queries.list_policies(conn, iid))

    @get(
        "/{id:str}/policies/{region:str}",
        responses=ERROR_RESPONSES,
        operation_id="getPolicy",
    )
    async def get_policy(
        self, request: Request[Any, Any, Any], services: Services, id: str, region: str
    ) -> Response[PolicyView]:
        iid = await _institution(request, services, id)
        parsed = parse_region(region, "region")
        async with services.pool.connection() as conn:
            found = await queries.get_policy(conn, iid, parsed.value)
        if found is None:
            raise NotFound("Policy not found")
        return answer(found)
