"""A position as it stood at a past time, replayed from its events in the log."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol
from uuid import UUID

from escrowgrid.domain.position import Position
from escrowgrid.eventlog.codec import EventCodec
from escrowgrid.eventlog.records import PendingEvent

_codec = EventCodec()


class StreamSource(Protocol):
    async def load(self, *stream_ids: UUID) -> dict[UUID, list[PendingEvent]]: ...


async def position_as_of(streams: StreamSource, position_id: UUID, at: datetime) -> Position | None:
    """The position as it stood at `at` (None if not yet opened, or not a position)."""
    events = (await streams.load(position_id))[position_id]
    found = _codec.rebuild(events, until=at)
    return found if isinstance(found, Position) else None
