"""Recomputing hash chains and the ledger digest, naming the first event that does not match."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from escrowgrid.eventlog.hashing import GENESIS, canonical_meta, digest_step, event_hash
from escrowgrid.eventlog.records import RecordedEvent


@dataclass(frozen=True, slots=True)
class ChainBreak:
    """The first event whose stored hashes disagree with its content or its predecessor."""

    position: int
    stream_id: UUID
    version: int
    reason: str

    def __str__(self) -> str:
        return (
            f"event at position {self.position} (stream {self.stream_id}, "
            f"version {self.version}): {self.reason}"
        )


class ChainVerifier:
    """Feeds events in log order; checks every stream's chain and folds the ledger digest."""

    def __init__(self) -> None:
        self._heads: dict[UUID, tuple[int, bytes]] = {}
        self.digest = GENESIS
        self.position = 0
        self.count = 0

    def feed(self, event: RecordedEvent) -> ChainBreak | None:
        version, prev = self._heads.get(event.stream_id, (0, None))
        problem = _check(event, version, prev)
        if problem is not None:
            return ChainBreak(event.position, event.stream_id, event.version, problem)
        self._heads[event.stream_id] = (event.version, event.hash)
        self.digest = digest_step(self.digest, event.position, event.hash)
        self.position = event.position
        self.count += 1
        return None


def _check(event: RecordedEvent, version: int, prev: bytes | None) -> str | None:
    if event.version != version + 1:
        return f"version {event.version} follows version {version} of its stream"
    if event.prev_hash != prev:
        return "prev_hash is not the hash of the stream's previous event"
    expected = event_hash(
        prev, event.stream_id, event.version, event.topic, event.state, canonical_meta(event.meta)
    )
    if expected != event.hash:
        return "hash does not match the event's content"
    return None


def verify_stream(events: list[RecordedEvent]) -> ChainBreak | None:
    """Check one stream's events (in version order)."""
    verifier = ChainVerifier()
    for event in events:
        broken = verifier.feed(event)
        if broken is not None:
            return broken
    return None
