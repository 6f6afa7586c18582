"""`escrowgrid verify`: recompute the hash chains and the ledger digest, and rebuild every read
model beside the live one to compare them row by row. Exit 1 names the first mismatch."""

# - `--digest POSITION:HASH` also checks a digest published earlier against the log.
# - `--export FILE` writes the log as JSON lines an auditor can check offline with
#   `python -m projections.rebuilding.offline_check FILE` (algorithm in docs/read-side.md).

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from psycopg import AsyncConnection

from escrowgrid.eventlog.chain import ChainBreak, ChainVerifier
from escrowgrid.eventlog.hashing import GENESIS, canonical_meta
from escrowgrid.eventlog.reader import read_after
from escrowgrid.eventlog.records import RecordedEvent
from projections.rebuilding.building import ScratchBuild
from projections.rebuilding.compare import Mismatch, first_mismatch
from projections.rebuilding.console import bulk_gc
from projections.rebuilding.progress import Progress
from projections.registry import ALL
from projections.runner import tracking
from projections.runner.batches import head_position
from projections.runner.connect import close_quietly, connect

CHAIN_BATCH = 5000


class DigestFormatError(ValueError):
    """`--digest` was not POSITION:HASH with a 64-digit hex hash."""


def parse_digest(text: str) -> tuple[int, bytes]:
    """`1234:9f86...` as (1234, 32 bytes)."""
    position, _, digest = text.partition(":")
    try:
        value = bytes.fromhex(digest)
        number = int(position)
    except ValueError:
        raise DigestFormatError("--digest takes POSITION:HASH, e.g. 1234:9f86d0...") from None
    if len(value) != 32 or number < 0:
        raise DigestFormatError("--digest takes POSITION:HASH with a 64-digit hex SHA-256")
    return number, value


@dataclass
class ChainReport:
    """What the pass over the whole log found."""

    events: int = 0
    position: int = 0
    digest: bytes = GENESIS
    digest_at: dict[int, bytes] = field(default_factory=dict)
    broken: ChainBreak | None = None


@dataclass
class VerifyReport:
    chain: ChainReport
    mismatch: Mismatch | None = None
    models: list[str] = field(default_factory=list)
    expected: tuple[int, bytes] | None = None

    @property
    def digest_ok(self) -> bool | None:
        if self.expected is None:
            return None
        return self.chain.digest_at.get(self.expected[0]) == self.expected[1]

    @property
    def ok(self) -> bool:
        return self.chain.broken is None and self.mismatch is None and self.digest_ok is not False


async def check_log(
    conn: AsyncConnection[Any],
    *,
    digest_at: int | None = None,
    export: TextIO | None = None,
    progress: Progress | None = None,
) -> ChainReport:
    """Feed every event, in log order, to ChainVerifier; stop at the first broken event."""
    verifier = ChainVerifier()
    report = ChainReport()
    position = 0
    write = _exporter(export) if export is not None else None
    while True:
        events = await read_after(conn, position, CHAIN_BATCH)
        if not events:
            break
        for event in events:
            if digest_at is not None and event.position > digest_at >= verifier.position:
                report.digest_at[digest_at] = verifier.digest
            broken = verifier.feed(event)
            if broken is not None:
                report.broken = broken
                return _finish(report, verifier, digest_at)
            if write is not None:
                write(event)
        position = events[-1].position
        if progress is not None:
            progress.advance(len(events))
    return _finish(report, verifier, digest_at)


def _finish(report: ChainReport, verifier: ChainVerifier, digest_at: int | None) -> ChainReport:
    report.events, report.position, report.digest = (
        verifier.count,
        verifier.position,
        verifier.digest,
    )
    # A position past the last event has no digest yet: later events will take it.
    if digest_at is not None and report.broken is None and digest_at == verifier.position:
        report.digest_at[digest_at] = verifier.digest
    return report


def _exporter(out: TextIO) -> Callable[[RecordedEvent], None]:
    def write(event: RecordedEvent) -> None:
        line = {
            "position": event.position,
            "streamId": str(event.stream_id),
            "version": event.version,
            "topic": event.topic,
            "state": base64.b64encode(event.state).decode(),
            "meta": canonical_meta(event.meta).decode(),
            "tenantId": None if event.tenant_id is None else str(event.tenant_id),
            "recordedAt": event.recorded_at.isoformat(),
            "prevHash": None if event.prev_hash is None else event.prev_hash.hex(),
            "hash": event.hash.hex(),
        }
        out.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n")

    return write


async def compare_models(conninfo: str, progress: Progress | None = None) -> Mismatch | None:
    """Rebuild every read model into `eg_verify_*` and compare it with the live tables."""
    # The copies are built up to where the live models were when it started, then, in one
    # REPEATABLE READ transaction, brought to exactly the live models' positions in that snapshot
    # and compared: a runner may keep projecting meanwhile without making a false mismatch.
    async with ScratchBuild(conninfo, list(ALL), "verify") as build:
        await build.prepare(resume=False)
        try:
            conn = build.writer
            live = await tracking.read_positions(conn, [m.name for m in build.models])
            await build.catch_up(min([live.get(m.name, 0) for m in build.models]), progress)
            async with conn.transaction():
                await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                live = await tracking.read_positions(conn, [m.name for m in build.models])
                for model in build.models:
                    await build.apply_tail(conn, model, live.get(model.name, 0))
                for model in build.models:
                    for table in model.projection.tables:
                        found = await first_mismatch(conn, table, model.schema)
                        if found is not None:
                            return found
        finally:
            await build.drop()
    return None


async def verify(
    conninfo: str,
    *,
    expected: tuple[int, bytes] | None = None,
    export: TextIO | None = None,
    progress: TextIO | None = None,
    show_progress: bool = True,
) -> VerifyReport:
    conn = await connect(conninfo, "escrowgrid-verify")
    try:
        head = await head_position(conn)
        bar = Progress("verify log", head, progress, enabled=show_progress)
        chain = await check_log(
            conn,
            digest_at=None if expected is None else expected[0],
            export=export,
            progress=bar,
        )
        bar.finish()
    finally:
        await close_quietly(conn)
    report = VerifyReport(chain, expected=expected, models=[p.name for p in ALL])
    if chain.broken is None:
        bar = Progress("verify read models", head, progress, enabled=show_progress)
        report.mismatch = await compare_models(conninfo, bar)
        bar.finish()
    return report


def describe(report: VerifyReport) -> list[str]:
    """The lines `escrowgrid verify` prints."""
    chain = report.chain
    lines = []
    if chain.broken is not None:
        lines.append(f"FAIL hash chain: {chain.broken}")
    else:
        lines.append(
            f"ok   hash chains: {chain.events:,} events up to position {chain.position}, "
            f"every stream intact"
        )
        lines.append(f"ok   ledger digest at {chain.position}: {chain.digest.hex()}")
    if report.expected is not None:
        position, digest = report.expected
        found = chain.digest_at.get(position)
        if found is None:
            lines.append(f"FAIL digest {position}:{digest.hex()}: the log ends before {position}")
        elif found == digest:
            lines.append(f"ok   published digest {position}:{digest.hex()} matches the log")
        else:
            lines.append(
                f"FAIL published digest {position}:{digest.hex()} does not match; "
                f"the log gives {found.hex()}"
            )
    if report.mismatch is not None:
        lines.append(f"FAIL read model {report.mismatch}")
    elif chain.broken is None:
        lines.append(f"ok   read models equal a rebuild from the log: {', '.join(report.models)}")
    return lines


def main(
    conninfo: str,
    *,
    digest: str | None,
    export_path: str | None,
    out: TextIO,
) -> int:
    """Run verify; 0 when everything matches, 1 otherwise, 2 for a malformed --digest."""
    try:
        expected = None if digest is None else parse_digest(digest)
    except DigestFormatError as exc:
        out.write(f"escrowgrid: {exc}\n")
        return 2
    with bulk_gc():
        if export_path is None:
            report = asyncio.run(verify(conninfo, expected=expected))
        else:
            with open(export_path, "w", encoding="utf-8") as export:
                report = asyncio.run(verify(conninfo, expected=expected, export=export))
    for line in describe(report):
        out.write(line + "\n")
    return 0 if report.ok else 1
