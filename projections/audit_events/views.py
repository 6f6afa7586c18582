"""Answer shapes of read model `audit_events`: the contract's JSON objects (camelCase)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import msgspec


class RefusalError(msgspec.Struct, frozen=True, omit_defaults=True):
    """Why a command was refused: a stable code, the answer's message and field details."""

    code: str
    message: str
    details: list[dict[str, str]] | None = None


class AuditEventView(msgspec.Struct, rename="camel", frozen=True):
    """One command: who, what, when, from where; where it landed in the log, or why not.

    `outcome` is `accepted` (from the log) or `refused` (a 4xx answered to a known key,
    which wrote nothing to the log: no positions, no streams, `status` and `error` instead).
    """

    id: int | None  # accepted: the log position of the command's first event
    position: int | None  # accepted: the log position of its last event (what a reader waits for)
    action: str | None
    actor_key_id: str | None
    actor_role: str | None
    institution_id: UUID | None
    request_id: str | None
    client_addr: str | None
    at: datetime
    stream_ids: list[UUID]
    event_count: int
    command_id: str | None = None  # extra: the command layer's id of the command
    outcome: str = "accepted"  # accepted | refused
    refusal_id: int | None = None  # refused: the refusal's own id
    method: str | None = None  # refused: the request's method and route template
    route: str | None = None
    status: int | None = None  # refused: the answer's status
    error: RefusalError | None = None
