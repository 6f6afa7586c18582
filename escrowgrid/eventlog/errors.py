"""Failures of the event log that callers map to answers (409, 422, 503)."""

from __future__ import annotations

from uuid import UUID


class EventLogError(Exception):
    """Base of event-log failures."""


class ConcurrencyConflict(EventLogError):
    """Another command appended to the stream first (optimistic concurrency)."""

    def __init__(self, stream_id: UUID, expected: int, actual: int) -> None:
        super().__init__(
            f"stream {stream_id} is at version {actual}, the command expected {expected}"
        )
        self.stream_id = stream_id
        self.expected = expected
        self.actual = actual


class IdempotencyMismatch(EventLogError):
    """An idempotency key was reused with a different request."""

    def __init__(self, key: str) -> None:
        super().__init__(f"Idempotency-Key {key!r} was already used with a different request")
        self.key = key


class StoreUnavailable(EventLogError):
    """The database could not be reached or failed while appending; nothing was written."""
