"""Routes the admin console needs beside the contract: who am I, read-side health, past digests."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get
from litestar.params import Parameter

from escrowgrid.api.answers import answer
from escrowgrid.api.commanding import actor_of
from escrowgrid.api.errors import ERROR_RESPONSES
from escrowgrid.api.scoping import MAX_LOG_POSITION
from escrowgrid.api.services import Services
from escrowgrid.command_context import Actor, Forbidden


class WhoAmI(msgspec.Struct, rename="camel"):
    kind: str  # root, admin or read_only
    key_id: str
    institution_id: str | None


class ProjectionStatus(msgspec.Struct, rename="camel"):
    projection: str
    position: int
    head: int
    lag_events: int
    lag_seconds: float
    runner: str | None


class DigestAt(msgspec.Struct, rename="camel"):
    position: int
    digest: str | None  # None: the log has not reached the position
    algorithm: str
    chain_valid: bool
    log_position: int


def _root_only(actor: Actor, what: str) -> None:
    if not actor.is_root:
        raise Forbidden(f"Forbidden: {what} needs the root key")


class ConsoleSupportController(Controller):
    path = ""
    tags = ["console"]

    @get("/whoami", responses=ERROR_RESPONSES, operation_id="whoAmI")
    async def whoami(self, request: Request[Any, Any, Any]) -> Response[WhoAmI]:
        """The presented key's kind (root, admin, read_only) and its institution."""
        actor = actor_of(request)
        iid = None if actor.institution_id is None else str(actor.institution_id)
        return answer(WhoAmI(actor.role.value, actor.key_id, iid))

    @get("/projections/status", responses=ERROR_RESPONSES, operation_id="projectionStatus")
    async def projection_status(
        self, request: Request[Any, Any, Any], services: Services
    ) -> Response[list[ProjectionStatus]]:
        """What `escrowgrid projections status --json` prints: position, lag and holder."""
        _root_only(actor_of(request), "the read side's status")
        from projections.console import status_rows

        assert services.settings.database_url is not None
        rows = await status_rows(services.settings.database_url)
        return answer(
            [msgspec.convert(row, ProjectionStatus, from_attributes=False) for row in rows]
        )

    @get("/ledger/digest-at", responses=ERROR_RESPONSES, operation_id="getLedgerDigestAt")
    async def digest_at(
        self,
        request: Request[Any, Any, Any],
        services: Services,
        position: Annotated[int, Parameter(ge=0, le=MAX_LOG_POSITION, query="position")],
    ) -> Response[DigestAt]:
        """The digest at a log position, recomputed from the log as `escrowgrid verify` does."""
        _root_only(actor_of(request), "the ledger digest")
        from escrowgrid.verify import check_log

        async with services.pool.connection() as conn:
            report = await check_log(conn, digest_at=position)
        found = report.digest_at.get(position)
        digest = None if found is None else found.hex()
        return answer(
            DigestAt(position, digest, "sha256-chain-v1", report.broken is None, report.position)
        )
