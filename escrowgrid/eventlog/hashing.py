"""Hashes that make the log tamper-evident: per-stream chains and the ledger digest."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from uuid import UUID

GENESIS = bytes(32)  # the "previous hash" of a stream's first event and of an empty ledger


def canonical_meta(meta: Mapping[str, object]) -> bytes:
    """Key-sorted compact JSON: survives a round trip through jsonb unchanged."""
    return json.dumps(meta, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _framed(*parts: bytes) -> bytes:
    # Length-prefix every field so that no two different events share the same bytes.
    return b"".join(len(p).to_bytes(4, "big") + p for p in parts)


def event_hash(
    prev_hash: bytes | None,
    stream_id: UUID,
    version: int,
    topic: str,
    state: bytes,
    meta: bytes,
) -> bytes:
    """SHA-256 over the previous hash of the stream and this event's canonical bytes."""
    body = _framed(stream_id.bytes, version.to_bytes(8, "big"), topic.encode(), state, meta)
    return hashlib.sha256((prev_hash or GENESIS) + body).digest()


def digest_step(previous: bytes, position: int, event_hash_: bytes) -> bytes:
    """Fold one event (in log order) into the ledger digest."""
    return hashlib.sha256(previous + position.to_bytes(8, "big") + event_hash_).digest()
