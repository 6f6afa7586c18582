"""Streams a command may decide on without loading them again: checked by the append, not trusted.

Why this is safe: a cached stream is only ever one a decision's append checks by version (a
policy a position was opened under goes in `read_versions`; a policy that is set is written at
its expected version), so a stale entry can make that append fail with a conflict but never
commit. A decision taken on cached streams that fails in any way, refused or in conflict, is
taken once more on streams loaded from the log (handling.py), so no client sees the cache.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from contextvars import ContextVar
from dataclasses import dataclass, field
from uuid import UUID

from escrowgrid.eventlog.records import PendingEvent

Events = tuple[PendingEvent, ...]
STREAM_CACHE_SIZE = 10_000


class StreamCache:
    """The newest events this process saw of each stream, least recently used out first."""

    def __init__(self, size: int = STREAM_CACHE_SIZE) -> None:
        self._size = size
        self._streams: OrderedDict[UUID, Events] = OrderedDict()

    def get(self, stream_id: UUID) -> Events | None:
        found = self._streams.get(stream_id)
        if found is not None:
            self._streams.move_to_end(stream_id)
        return found

    def put(self, stream_id: UUID, events: Events) -> None:
        current = self._streams.get(stream_id)
        if current is not None and len(current) > len(events):
            return  # a racing command's newer events stay
        self._streams[stream_id] = events
        self._streams.move_to_end(stream_id)
        if len(self._streams) > self._size:
            self._streams.popitem(last=False)

    def evict(self, stream_ids: Iterable[UUID]) -> None:
        for sid in stream_ids:
            self._streams.pop(sid, None)


@dataclass(slots=True)
class Attempt:
    """One decision of a command: which cacheable streams it rests on, and which came cached."""

    fresh: bool = False  # load everything from the log
    based_on: dict[UUID, Events] = field(default_factory=dict)
    served: set[UUID] = field(default_factory=set)


# The decision in progress in this task: commands' `decide` closures load through the handler,
# which records here what they read.
ATTEMPT: ContextVar[Attempt | None] = ContextVar("escrowgrid_attempt", default=None)
