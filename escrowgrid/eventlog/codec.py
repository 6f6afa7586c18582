"""How domain events become bytes in the log and back: the library's Mapper and JSON transcoder."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Mapper,
    StoredEvent,
    UUIDAsHex,
)

from escrowgrid.eventlog.records import PendingEvent


def make_mapper() -> Mapper[Any]:
    """Decimal is stored as its exact string, never as a binary float."""
    transcoder = JSONTranscoder()
    transcoder.register(UUIDAsHex())
    transcoder.register(DecimalAsStr())
    transcoder.register(DatetimeAsISO())
    return Mapper(transcoder=transcoder)


class EventCodec:
    """Serialises pending aggregate events and rebuilds aggregates from stored ones."""

    def __init__(self, mapper: Mapper[Any] | None = None) -> None:
        self.mapper = mapper or make_mapper()

    def pending(self, *aggregates: Aggregate) -> list[PendingEvent]:
        out: list[PendingEvent] = []
        for aggregate in aggregates:
            for event in aggregate.collect_events():
                stored = self.mapper.to_stored_event(event)
                out.append(
                    PendingEvent(
                        stream_id=stored.originator_id,  # type: ignore[arg-type]
                        version=stored.originator_version,
                        topic=stored.topic,
                        state=stored.state,
                    )
                )
        return out

    def rebuild(
        self, events: list[PendingEvent], until: datetime | None = None
    ) -> Aggregate | None:
        """Replay a stream's events into its aggregate (None for an empty stream).

        With `until`, only the events that happened at or before that time: the past state.
        """
        aggregate: Any = None
        for event in events:
            domain_event: Any = self.mapper.to_domain_event(
                StoredEvent(event.stream_id, event.version, event.topic, event.state)
            )
            if until is not None and domain_event.timestamp > until:
                break
            aggregate = domain_event.mutate(aggregate)
        return aggregate  # type: ignore[no-any-return]
