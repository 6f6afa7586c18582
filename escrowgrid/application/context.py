"""Who is acting and for which request: what a command gets besides its arguments."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from uuid import UUID

from escrowgrid.eventlog.records import StoredResponse


class ActorRole(StrEnum):
    ROOT = "root"
    ADMIN = "admin"
    READ_ONLY = "read_only"


@dataclass(frozen=True, slots=True)
class Actor:
    """The authenticated caller: the root key, or an institution's key with its role."""

    key_id: str
    role: ActorRole
    institution_id: UUID | None = None

    @property
    def is_root(self) -> bool:
        return self.role is ActorRole.ROOT


ROOT = Actor(key_id="root", role=ActorRole.ROOT)


@dataclass(frozen=True, slots=True)
class IdempotencyRequest:
    """An Idempotency-Key and the hash of the request it came with."""

    key: str
    request_hash: bytes


@dataclass(frozen=True, slots=True)
class CommandContext:
    """Everything about a command besides its arguments: actor, request, idempotency."""

    actor: Actor = ROOT
    request_id: str | None = None
    client_addr: str | None = None
    idempotency: IdempotencyRequest | None = None
    # Renders the answer kept for an idempotency key (what a replay returns).
    render: Callable[[Any], StoredResponse] | None = None

    @property
    def idempotency_scope(self) -> str:
        return self.actor.key_id
