"""Routes the admin console needs beside the contract: who am I, read-side health, past digests."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Response, get
from litestar.params import Parameter
from psycopg import AsyncConnection

from escrowgrid.api.answers import answer
from escrowgrid.api.errors import ERROR_RESPONSES
from escrowgrid.api.guards import root_only
from escrowgrid.api.params import MAX_LOG_POSITION
from escrowgrid.api.services import Services
from escrowgrid.application.context import Actor
from escrowgrid.eventlog.chain import ChainVerifier
from escrowgrid.eventlog.reader import read_after

_BATCH = 5000


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


async def _digest_at(
    conn: AsyncConnection[Any], verifier: ChainVerifier, position: int
) -> tuple[bytes | None, bool]:
    """(digest at `position` or None past the log's end, whether a broken event stopped us)."""
    after = 0
    while events := await read_after(conn, after, _BATCH):
        for event in events:
            if event.position > position:  # a gap in the positions: the digest before it
                return verifier.digest, False
            if verifier.feed(event) is not None:
                return None, True
            if event.position == position:
                return verifier.digest, False
        after = events[-1].position
    return (verifier.digest if position == verifier.position else None), False


class ConsoleSupportController(Controller):
    path = ""
    tags = ["console"]

    @get("/whoami", responses=ERROR_RESPONSES, operation_id="whoAmI")
    async def whoami(self, actor: Actor) -> Response[WhoAmI]:
        """The presented key's kind (root, admin, read_only) and its institution."""
        iid = None if actor.institution_id is None else str(actor.institution_id)
        return answer(WhoAmI(actor.role.value, actor.key_id, iid))

    @get(
        "/projections/status",
        responses=ERROR_RESPONSES,
        operation_id="projectionStatus",
        guards=[root_only],
    )
    async def projection_status(self, services: Services) -> Response[list[ProjectionStatus]]:
        """What `escrowgrid projections status --json` prints: position, lag and holder."""
        from projections.runner.console import status_rows

        assert services.settings.database_url is not None
        rows = await status_rows(services.settings.database_url)
        return answer([msgspec.convert(row, ProjectionStatus) for row in rows])

    @get(
        "/ledger/digest-at",
        responses=ERROR_RESPONSES,
        operation_id="getLedgerDigestAt",
        guards=[root_only],
    )
    async def digest_at(
        self,
        conn: AsyncConnection[Any],
        position: Annotated[int, Parameter(ge=0, le=MAX_LOG_POSITION, query="position")],
    ) -> Response[DigestAt]:
        """The digest at a log position, recomputed from the log as `escrowgrid verify` does."""
        verifier = ChainVerifier()
        found, broken = await _digest_at(conn, verifier, position)
        digest = None if found is None else found.hex()
        return answer(DigestAt(position, digest, "sha256-chain-v1", not broken, verifier.position))
