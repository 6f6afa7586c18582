"""`escrowgrid bench appends`: command throughput of our appender against the library's recorder.

Both sides run the same aggregates and the same commands (open a position; move it FUNDED,
PARTIALLY_RELEASED twice, RELEASED), against the same durable PostgreSQL, in one run.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import platform
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import Application

from escrowgrid.application.context import ROOT, CommandContext
from escrowgrid.application.ledger import Ledger
from escrowgrid.bench.stats import Sample, table
from escrowgrid.bootstrap import PoolSize, running
from escrowgrid.domain.asset import Asset
from escrowgrid.domain.asset_template import AssetTemplate
from escrowgrid.domain.position import Position
from escrowgrid.embedded_pg import EmbeddedPostgres
from escrowgrid.migrations import migrate

CTX = CommandContext(ROOT)
T = TypeVar("T")
MOVES = (
    ("FUNDED", None),
    ("PARTIALLY_RELEASED", Decimal("1.5")),
    ("PARTIALLY_RELEASED", Decimal("2.25")),
    ("RELEASED", None),
)


@dataclass(frozen=True)
class BenchConfig:
    seconds: float = 10.0
    writers: tuple[int, ...] = (1, 16)
    processes: int = 1


# -- ours ---------------------------------------------------------------------------------------


async def _timed(
    name: str, writers: int, seconds: float, op: Callable[[int], Awaitable[bool]]
) -> Sample:
    """Run `op(worker)` in `writers` concurrent tasks until time is up or every task is done."""
    sample = Sample(name, writers)
    deadline = time.perf_counter() + seconds
    started = time.perf_counter()

    async def worker(index: int) -> None:
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            try:
                more = await op(index)
            except Exception:
                sample.errors += 1
                continue
            sample.latencies.append(time.perf_counter() - t0)
            if not more:
                return

    await asyncio.gather(*(worker(i) for i in range(writers)))
    sample.elapsed = time.perf_counter() - started
    return sample


async def _seed(ledger: Ledger) -> tuple[UUID, UUID]:
    institution = await ledger.register_institution(CTX, name="Bench", regions=["US"])
    assert institution.value is not None
    iid = institution.value.id
    template = await ledger.define_template(
        CTX, iid, code="CONSTR_ESCROW", name="Escrow", vertical="CONSTRUCTION",
        region="US", config={"currency": "USD", "region": "US"},
    )  # fmt: skip
    assert template.value is not None
    asset = await ledger.register_asset(CTX, iid, template_id=template.value.id, label="A")
    assert asset.value is not None
    return iid, asset.value.id


async def _with_ledger(dsn: str, body: Callable[[Ledger], Awaitable[T]]) -> T:
    async with running(dsn, pool_size=PoolSize(min_size=4, max_size=24)) as wired:
        return await body(wired.ledger)


async def _ours_share(
    ledger: Ledger, iid: UUID, asset_id: UUID, writers: int, seconds: float, start_at: float
) -> tuple[Sample, Sample]:
    """One process's share: creates for `seconds`, then moves of what it created."""
    opened: list[list[UUID]] = [[] for _ in range(writers)]

    async def create(worker: int) -> bool:
        out = await ledger.open_position(
            CTX, iid, asset_id=asset_id, holder_reference="h", currency="USD",
            amount=Decimal("100.00"),
        )  # fmt: skip
        assert out.value is not None
        opened[worker].append(out.value.id)
        return True

    await asyncio.sleep(max(0.0, start_at - time.time()))
    creates = await _timed("ours: position create", writers, seconds, create)
    plan = [_moves_of(ids) for ids in opened]

    async def move(worker: int) -> bool:
        step = next(plan[worker], None)
        if step is None:
            return False
        pid, state, amount = step
        await ledger.move_position(CTX, pid, to_state=state, amount=amount)
        return True

    await asyncio.sleep(max(0.0, start_at + seconds + 1.0 - time.time()))
    moves = await _timed("ours: position move", writers, seconds, move)
    return creates, moves


def _ours_process(
    dsn: str, iid: UUID, asset_id: UUID, writers: int, seconds: float, start_at: float,
    out: Any,
) -> None:  # fmt: skip
    async def body(ledger: Ledger) -> tuple[Sample, Sample]:
        return await _ours_share(ledger, iid, asset_id, writers, seconds, start_at)

    out.put(asyncio.run(_with_ledger(dsn, body)))


def bench_ours(dsn: str, config: BenchConfig) -> list[Sample]:
    """Our command layer, its writers split across `config.processes` processes."""
    iid, asset_id = asyncio.run(_with_ledger(dsn, _seed))
    samples: list[Sample] = []
    ctx = multiprocessing.get_context("spawn")
    for writers in config.writers:
        processes = min(config.processes, writers)
        shares = [writers // processes + (i < writers % processes) for i in range(processes)]
        results: Any = ctx.Queue()
        start_at = time.time() + 3.0  # every process connected and ready
        procs = [
            ctx.Process(
                target=_ours_process,
                args=(dsn, iid, asset_id, share, config.seconds, start_at, results),
            )
            for share in shares
        ]
        for proc in procs:
            proc.start()
        parts = [results.get(timeout=config.seconds * 4 + 60) for _ in procs]
        for proc in procs:
            proc.join()
        label = f" ({processes} processes)" if processes > 1 else ""
        for index, name in enumerate(("ours: position create", "ours: position move")):
            merged = Sample(name + label, writers)
            for part in parts:
                merged.latencies.extend(part[index].latencies)
                merged.errors += part[index].errors
            merged.elapsed = max(part[index].elapsed for part in parts)
            samples.append(merged)
    return samples


def _moves_of(ids: list[UUID]) -> Iterator[tuple[UUID, str, Decimal | None]]:
    for pid in ids:
        for state, amount in MOVES:
            yield pid, state, amount


# -- the library's default recorder ---------------------------------------------------------------


def _threaded(name: str, writers: int, seconds: float, op: Callable[[int], bool]) -> Sample:
    sample = Sample(name, writers)
    deadline = time.perf_counter() + seconds
    lock = threading.Lock()

    def worker(index: int) -> None:
        local: list[float] = []
        errors = 0
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            try:
                more = op(index)
            except Exception:
                errors += 1
                continue
            local.append(time.perf_counter() - t0)
            if not more:
                break
        with lock:
            sample.latencies.extend(local)
            sample.errors += errors

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sample.elapsed = time.perf_counter() - started
    return sample


def bench_library(pg: EmbeddedPostgres, dbname: str, config: BenchConfig) -> list[Sample]:
    """The library's Application with its PostgreSQL recorder (LOCK TABLE per commit)."""
    app: Application[UUID] = Application(
        env={
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": dbname,
            "POSTGRES_HOST": str(pg.socket_dir),
            "POSTGRES_PORT": "5432",
            "POSTGRES_USER": "escrowgrid",
            "POSTGRES_PASSWORD": "",
            "POSTGRES_POOL_SIZE": str(max(config.writers) + 2),
            "CREATE_TABLE": "true",
        }
    )
    from uuid import uuid4

    iid = uuid4()
    template = AssetTemplate.define(
        iid, code="CONSTR_ESCROW", name="Escrow", vertical="CONSTRUCTION", region="US",
        config={"currency": "USD", "region": "US"},
    )  # fmt: skip
    asset = Asset.register(iid, template, "A")
    samples: list[Sample] = []
    try:
        for writers in config.writers:
            opened: list[list[UUID]] = [[] for _ in range(writers)]

            def create(worker: int, bucket: list[list[UUID]] = opened) -> bool:
                position = Position.open(
                    iid, asset=asset, template=template, holder_reference="h", currency="USD",
                    amount=Decimal("100.00"),
                )  # fmt: skip
                app.save(position)
                bucket[worker].append(position.id)
                return True

            samples.append(_threaded("library: position create", writers, config.seconds, create))
            plan = [_moves_of(ids) for ids in opened]
            guard = threading.Lock()

            def move(
                worker: int,
                plan: list[Iterator[tuple[UUID, str, Decimal | None]]] = plan,
                guard: threading.Lock = guard,
            ) -> bool:
                with guard:
                    step = next(plan[worker], None)
                if step is None:
                    return False
                pid, state, amount = step
                position: Position = app.repository.get(pid)
                position.move(state, amount=amount)
                app.save(position)
                return True

            samples.append(_threaded("library: position move", writers, config.seconds, move))
    finally:
        app.close()
    return samples


def run(config: BenchConfig, data_root: Path) -> str:
    """Start a durable private PostgreSQL, run both sides, return the report."""
    data_root.mkdir(parents=True, exist_ok=True)
    pg = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="bench-", dir=data_root)))
    pg.start()
    try:
        with_admin = pg.admin_dsn()
        import psycopg

        with psycopg.connect(with_admin, autocommit=True) as conn:
            conn.execute("CREATE DATABASE bench_ours OWNER escrowgrid")
            conn.execute("CREATE DATABASE bench_library OWNER escrowgrid")
            settings: dict[str, str] = dict(
                conn.execute(
                    "SELECT name, setting FROM pg_settings WHERE name IN"
                    " ('fsync', 'synchronous_commit', 'server_version', 'wal_sync_method')"
                ).fetchall()
            )
        ours_dsn = f"postgresql://escrowgrid@/bench_ours?host={pg.socket_dir}"
        migrate(ours_dsn)
        ours = bench_ours(ours_dsn, config)
        library = bench_library(pg, "bench_library", config)
    finally:
        pg.destroy()
    return _report(ours + library, config, settings)


def _report(samples: list[Sample], config: BenchConfig, settings: dict[str, str]) -> str:
    by = {(s.name, s.writers): s for s in samples}
    lines = [
        table(samples),
        "",
        f"machine: {platform.machine()}, {_cores()} cores, Python {platform.python_version()}; "
        f"PostgreSQL {settings.get('server_version')} fsync={settings.get('fsync')} "
        f"synchronous_commit={settings.get('synchronous_commit')}; {config.seconds:.0f} s per row",
    ]
    top = max(config.writers)
    label = f" ({config.processes} processes)" if config.processes > 1 else ""
    for op in ("create", "move"):
        ours = by.get((f"ours: position {op}{label}", top))
        lib = by.get((f"library: position {op}", top))
        if ours and lib and lib.ops_per_s:
            lines.append(
                f"ratio {op}s at {top} writers: {ours.ops_per_s / lib.ops_per_s:.1f}x the library"
            )
    return "\n".join(lines)


def _cores() -> int:
    import os

    return os.cpu_count() or 0
