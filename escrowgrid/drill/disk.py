"""Drill 7: the database's volume fills up under load, then space returns.

The drill database lives in a tablespace on a small tmpfs of its own (mounted by root), so
filling it touches nothing else: the cluster's WAL and other databases stay on their own disk,
and PostgreSQL meets a full volume as an ERROR of the statement that needed space (`could not
extend file`), not as a crash. A ballast file fills the volume while honest clients work; it is
deleted after a while; the figures say what the clients were answered and how long the service
took to serve normally again. Nothing acknowledged may be missing afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import msgspec
import psycopg

from escrowgrid.drill.honest import Book, HonestClient, audit, make_world, quantile_ms

BALLAST = "drill-ballast"
_CHUNKS = (1 << 20, 1 << 12)  # fill by MiB, then by page, until no byte is left
NORMAL_ANSWER_S = 1.0  # a command answered within this is served normally (read-your-writes)


class DiskConfig(msgspec.Struct, frozen=True, kw_only=True):
    seed: int = 16
    warm_s: float = 3.0  # load before the volume fills
    full_s: float = 8.0  # how long it stays full
    after_s: float = 5.0  # load after space returns (recovery included)
    honest_clients: int = 4
    honest_pause_s: float = 0.02


class DiskFigures(msgspec.Struct, frozen=True, kw_only=True):
    seed: int
    seconds: float
    honest_ops: int
    honest_ops_per_s: float
    faults_injected: int  # times the volume was filled
    ballast_mib: float
    acknowledged: int
    acknowledged_while_full: int
    lost: int
    duplicated: int
    statuses: dict[str, dict[str, int]]  # phase (warm, full, after) -> status -> count
    unavailable_without_retry_after: int
    server_errors: int  # 5xx other than 503
    non_json_answers: int
    honest_unknown: int
    honest_p99_ms: float
    recover_s: float  # from the release until a command is answered normally again


@contextlib.contextmanager
def small_volume(path: Path, size_mb: int, owner: tuple[int, int]) -> Iterator[Path]:
    """A tmpfs of `size_mb` at `path`, owned by (uid, gid); unmounted afterwards (root only)."""
    path.mkdir(parents=True, exist_ok=True)
    uid, gid = owner
    options = f"size={size_mb}m,mode=0700,uid={uid},gid={gid}"
    subprocess.run(  # noqa: S603 - fixed arguments, a path of our own
        ["mount", "-t", "tmpfs", "-o", options, "escrowgrid-drill", str(path)],  # noqa: S607
        check=True,
        capture_output=True,
    )
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)  # noqa: S603, S607
        with contextlib.suppress(OSError):
            path.rmdir()


@contextlib.contextmanager
def database_on_volume(admin_dsn: str, volume: Path, template: str, owner: str) -> Iterator[str]:
    """A database copied from `template` into a tablespace on `volume`; yields its name."""
    name = f"drill_disk_{os.getpid()}"
    space = f"{name}_space"
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE TABLESPACE {space} OWNER {owner} LOCATION '{volume}'")
        conn.execute(f"CREATE DATABASE {name} TEMPLATE {template} OWNER {owner} TABLESPACE {space}")
    try:
        yield name
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            conn.execute(f"DROP TABLESPACE IF EXISTS {space}")


def fill(volume: Path) -> Path:
    """Write a ballast file until the volume has no space left; return its path."""
    ballast = volume / BALLAST
    fd = os.open(ballast, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in _CHUNKS:  # unbuffered: a short or failed write is the volume being full
            block = bytes(size)
            with contextlib.suppress(OSError):
                while os.write(fd, block) == size:
                    pass
    finally:
        os.close(fd)
    return ballast


def _statuses(books: list[Book]) -> Counter[str]:
    total: Counter[str] = Counter()
    for book in books:
        total.update(book.statuses)
    return total


async def _recover(base_url: str, admin_key: str, asset_id: str) -> float:
    """Seconds until a new position is answered 201 within NORMAL_ANSWER_S."""
    started = time.monotonic()
    body = {"assetId": asset_id, "holderReference": "recovery", "currency": "USD",
            "amount": "1.00"}  # fmt: skip
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        while time.monotonic() - started < 120:
            sent = time.monotonic()
            with contextlib.suppress(httpx.HTTPError):
                made = await http.post("/positions", json=body, headers={"X-API-KEY": admin_key})
                if made.status_code == 201 and time.monotonic() - sent < NORMAL_ANSWER_S:
                    return round(sent - started, 2)
            await asyncio.sleep(0.1)
    return float("inf")


async def _drill(base_url: str, root_key: str, volume: Path, config: DiskConfig) -> DiskFigures:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        worlds = [
            await make_world(http, root_key, f"drill7-{config.seed}-{i}")
            for i in range(config.honest_clients)
        ]
    books = [Book() for _ in worlds]
    pairs = list(zip(worlds, books, strict=True))
    stop = asyncio.Event()
    clients = [
        asyncio.create_task(
            HonestClient(base_url, world, f"drill7-{config.seed}-c{i}",
                         pause_s=config.honest_pause_s).run(stop, book)
        )
        for i, (world, book) in enumerate(pairs)
    ]  # fmt: skip
    started = time.monotonic()
    await asyncio.sleep(config.warm_s)
    warm = _statuses(books)
    acked_before = sum(book.acknowledged_commands for book in books)
    ballast = await asyncio.to_thread(fill, volume)
    ballast_mib = round(ballast.stat().st_size / (1 << 20), 1)
    await asyncio.sleep(config.full_s)
    full = _statuses(books)
    acked_while_full = sum(book.acknowledged_commands for book in books) - acked_before
    ballast.unlink()
    recover_s = await _recover(base_url, worlds[0].admin_key, worlds[0].asset_id)
    await asyncio.sleep(config.after_s)
    stop.set()
    await asyncio.gather(*clients)
    end = _statuses(books)
    phases = {"warm": warm, "full": full - warm, "after": end - full}
    elapsed = time.monotonic() - started
    checked = await audit(base_url, pairs)
    ops = sum(book.answered for book in books)
    return DiskFigures(
        seed=config.seed,
        seconds=round(elapsed, 1),
        honest_ops=ops,
        honest_ops_per_s=round(ops / elapsed, 1),
        faults_injected=1,
        ballast_mib=ballast_mib,
        acknowledged=checked.acknowledged,
        acknowledged_while_full=acked_while_full,
        lost=checked.lost,
        duplicated=checked.duplicated,
        statuses={phase: dict(sorted(c.items())) for phase, c in phases.items()},
        unavailable_without_retry_after=sum(book.unavailable_without_retry_after for book in books),
        server_errors=sum(n for s, n in end.items() if s.startswith("5") and s != "503"),
        non_json_answers=sum(book.not_json for book in books),
        honest_unknown=sum(book.unknown for book in books),
        honest_p99_ms=quantile_ms([s for book in books for s in book.latencies], 0.99),
        recover_s=recover_s,
    )


def run_disk_full(base_url: str, root_key: str, volume: Path, config: DiskConfig) -> DiskFigures:
    """Run drill 7 against a service whose database lives on `volume`; return its figures."""
    return asyncio.run(_drill(base_url, root_key, volume, config))
