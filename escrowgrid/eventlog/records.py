"""Plain records passed between the command layer, the appender and the readers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID


@dataclass(frozen=True, slots=True)
class PendingEvent:
    """A serialised domain event waiting to be appended."""

    stream_id: UUID
    version: int
    topic: str
    state: bytes


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    """An event as the log holds it."""

    position: int
    stream_id: UUID
    version: int
    topic: str
    state: bytes
    tenant_id: UUID | None
    meta: dict[str, object]
    recorded_at: datetime
    prev_hash: bytes | None
    hash: bytes


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """The answer recorded for an idempotency key."""

    status: int
    body: bytes


@dataclass(frozen=True, slots=True)
class IdempotencyRecord:
    """An idempotency key with the hash of its request and the answer to keep."""

    scope: str
    key: str
    request_hash: bytes
    response: StoredResponse


@dataclass(slots=True)
class AppendRequest:
    """One command's events, audit metadata and idempotency record: all or nothing."""

    events: list[PendingEvent]
    tenant_id: UUID | None
    meta: dict[str, object]
    idempotency: IdempotencyRecord | None = None
    # Streams the decision read but does not write, with the version it saw: checked under
    # the lock too, so a decision based on a since-changed stream (a policy) is refused.
    read_versions: dict[UUID, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AppendResult:
    """Where the command's events landed, or the earlier answer for a replayed key."""

    positions: tuple[int, ...]
    replayed: StoredResponse | None = None

    @property
    def last_position(self) -> int | None:
        return self.positions[-1] if self.positions else None
