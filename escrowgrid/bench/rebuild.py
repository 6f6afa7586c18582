"""`escrowgrid projections bench-rebuild --events N`: rebuild throughput over a generated log."""

# Generates a log of N events with the real aggregates, then rebuilds the positions read model
# from it (and then every read model); figures for docs/read-side.md.

from __future__ import annotations

import asyncio
import random
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg

from escrowgrid.bench.read_side_cluster import MOVES, cluster, describe_machine
from escrowgrid.domain.asset import Asset
from escrowgrid.domain.asset_template import AssetTemplate
from escrowgrid.domain.institution import Institution
from escrowgrid.domain.position import Position
from escrowgrid.embedded_pg import EmbeddedPostgres
from escrowgrid.eventlog.codec import EventCodec
from escrowgrid.eventlog.hashing import canonical_meta, event_hash
from escrowgrid.eventlog.records import PendingEvent
from projections.rebuilding.console import bulk_gc
from projections.rebuilding.rebuild import rebuild

OPEN_POSITIONS = 10_000  # moves pick a random open position: a position lives ~40,000 events
CHUNK = 50_000


# -- the log -----------------------------------------------------------------------------------


class _LogWriter:
    """Appends events straight to the table by COPY, as the appender would write them: under
    the table lock, hash-chained, with command metadata."""

    def __init__(self, conn: psycopg.Connection[Any], tenant: UUID) -> None:
        self.conn = conn
        self.tenant = str(tenant)
        self.heads: dict[UUID, bytes] = {}
        self.rows: list[tuple[object, ...]] = []
        self.count = 0

    def add(self, events: list[PendingEvent], action: str) -> None:
        meta: dict[str, object] = {
            "action": action,
            "actorKeyId": "root",
            "actorRole": "root",
            "institutionId": self.tenant,
            "requestId": f"bench-{self.count}",
            "clientAddr": "127.0.0.1",
        }
        meta_bytes = canonical_meta(meta)
        for event in events:
            prev = self.heads.get(event.stream_id)
            digest = event_hash(
                prev, event.stream_id, event.version, event.topic, event.state, meta_bytes
            )
            self.heads[event.stream_id] = digest
            self.rows.append(
                (event.stream_id, event.version, event.topic, event.state, self.tenant,
                 meta_bytes.decode(), prev, digest)
            )  # fmt: skip
            self.count += 1
        if len(self.rows) >= CHUNK:
            self.flush()

    def forget(self, stream_id: UUID) -> None:
        self.heads.pop(stream_id, None)

    def flush(self) -> None:
        if not self.rows:
            return
        with self.conn.transaction():
            self.conn.execute("LOCK TABLE events IN EXCLUSIVE MODE")
            with self.conn.cursor().copy(
                "COPY events (stream_id, version, topic, state, tenant_id, meta, prev_hash, hash)"
                " FROM STDIN"
            ) as copy:
                for row in self.rows:
                    copy.write_row(row)
        self.rows.clear()


def generate_log(dsn: str, events: int, seed: int = 7) -> int:
    """A log of about `events` events: one institution, template and asset, then positions
    opened and moved through FUNDED, PARTIALLY_RELEASED and RELEASED, interleaved."""
    codec = EventCodec()
    rnd = random.Random(seed)
    institution = Institution.register("Bench Bank", ["US"])
    template = AssetTemplate.define(
        institution.id, code="CONSTR_ESCROW", name="Escrow", vertical="CONSTRUCTION",
        region="US", config={"currency": "USD", "region": "US"},
    )  # fmt: skip
    asset = Asset.register(institution.id, template, "Tower A", {"floors": 40})
    with psycopg.connect(dsn) as conn:
        log = _LogWriter(conn, institution.id)
        log.add(codec.pending(institution), "institution.register")
        log.add(codec.pending(template), "asset_template.define")
        log.add(codec.pending(asset), "asset.register")
        open_: list[tuple[Position, int]] = []
        while log.count < events:
            if len(open_) < OPEN_POSITIONS:
                position = Position.open(
                    institution.id, asset=asset, template=template,
                    holder_reference=f"holder-{rnd.randrange(1000)}", currency="USD",
                    amount=Decimal("1000.00"),
                )  # fmt: skip
                log.add(codec.pending(position), "position.open")
                open_.append((position, 0))
                continue
            index = rnd.randrange(len(open_))
            position, step = open_[index]
            state, amount = MOVES[step]
            metadata = {"milestone": step, "share": Decimal("0.25")} if step == 1 else None
            position.move(state, reason=f"step {step}", metadata=metadata, amount=amount)
            log.add(codec.pending(position), "position.move")
            if step + 1 == len(MOVES):
                open_[index] = open_[-1]
                open_.pop()
                log.forget(position.id)
            else:
                open_[index] = (position, step + 1)
        log.flush()
        conn.execute("ANALYZE events")
        return log.count


def _settle(pg: EmbeddedPostgres) -> float:
    """Leave the log as a rebuild finds it in service: vacuumed (hint bits set, as autovacuum
    leaves any table) and checkpointed. A table's first reader after a bulk write pays for
    setting hint bits, which is the generator's cost, not the rebuild's."""
    started = time.monotonic()
    with psycopg.connect(pg.admin_dsn("bench_read"), autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) events")
        conn.execute("CHECKPOINT")
    return time.monotonic() - started


def rebuild_benchmark(events: int, batch_size: int, data_root: Path) -> str:
    pg, dsn = cluster(data_root)
    try:
        started = time.monotonic()
        count = generate_log(dsn, events)
        generated = time.monotonic() - started
        settled = _settle(pg)
        lines = [
            f"log: {count:,} events generated in {generated:.0f} s, vacuumed in {settled:.1f} s",
            "",
            "| rebuild | events read | seconds | events/s | load s | index s | swap s |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        with bulk_gc():
            for names in (["positions"], None):
                report = asyncio.run(
                    rebuild(dsn, names, batch_size=batch_size, show_progress=sys.stderr.isatty())
                )
                phases = report.phases
                lines.append(
                    f"| {', '.join(names) if names else 'all read models'} | {report.events:,} "
                    f"| {report.seconds:.1f} | {report.events_per_second:,.0f} "
                    f"| {phases.get('load', 0):.1f} | {phases.get('index', 0):.1f} "
                    f"| {phases.get('swap', 0):.2f} |"
                )
        lines += ["", f"batch {batch_size:,} events; machine: {describe_machine(dsn)}"]
        return "\n".join(lines)
    finally:
        pg.destroy()
