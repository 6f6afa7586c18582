"""A position's events with their hash chain, checked as they are served."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import msgspec
from psycopg import AsyncConnection

from escrowgrid.eventlog.chain import verify_stream
from escrowgrid.eventlog.hashing import canonical_meta
from escrowgrid.eventlog.reader import stream_records
from escrowgrid.eventlog.records import RecordedEvent

_decode = msgspec.json.Decoder()


class HistoryEvent(msgspec.Struct, rename="camel"):
    position: int
    version: int
    type: str
    recorded_at: Any
    prev_hash: str | None
    hash: str
    payload: Any
    meta: dict[str, Any]
    # The exact bytes hashed (base64 in JSON), so a client can recompute the chain itself.
    topic: str
    state_bytes: bytes
    meta_bytes: bytes


class ChainCheck(msgspec.Struct, rename="camel"):
    valid: bool
    first_mismatch: str | None = None


class PositionHistory(msgspec.Struct, rename="camel"):
    position_id: UUID
    institution_id: UUID
    events: list[HistoryEvent]
    chain: ChainCheck


def stored_fields(r: RecordedEvent) -> dict[str, Any]:
    """How an event of the log is shown to auditors: stored bytes decoded, hashes in hex."""
    return {
        "position": r.position,
        "version": r.version,
        "type": r.topic.rsplit(":", 1)[-1],
        "recorded_at": r.recorded_at,
        "prev_hash": None if r.prev_hash is None else r.prev_hash.hex(),
        "hash": r.hash.hex(),
        "payload": _decode.decode(r.state),
        "meta": r.meta,
    }


async def position_history(conn: AsyncConnection[Any], position_id: UUID) -> PositionHistory | None:
    """Every stored event of the position, oldest first, with the chain recomputed."""
    records = await stream_records(conn, position_id)
    if not records or not records[0].topic.endswith(":Position.Created"):
        return None
    broken = verify_stream(records)
    tenant = records[0].tenant_id
    assert tenant is not None
    return PositionHistory(
        position_id=position_id,
        institution_id=tenant,
        events=[
            HistoryEvent(
                **stored_fields(r),
                topic=r.topic,
                state_bytes=r.state,
                meta_bytes=canonical_meta(r.meta),
            )
            for r in records
        ],
        chain=ChainCheck(
            valid=broken is None, first_mismatch=None if broken is None else str(broken)
        ),
    )
