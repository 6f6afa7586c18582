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
import pwd
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import msgspec
import psycopg

from escrowgrid.drill.checker import Verdict
from escrowgrid.drill.cluster import scratch_dir
from escrowgrid.drill.history import FaultRecord, History
from escrowgrid.drill.honest import (
    Book,
    HonestClient,
    acknowledged,
    answered,
    quantile_ms,
    unknown,
)
from escrowgrid.drill.load import Clock, prepare_world
from escrowgrid.drill.processes import ServiceProcess
from escrowgrid.drill.registry import Drill
from escrowgrid.drill.report import Figures
from escrowgrid.drill.stage import Stage, judge
from escrowgrid.embedded_pg import DB_USER, SYSTEM_USER

BALLAST = "drill-ballast"
_CHUNKS = (1 << 20, 1 << 12)  # fill by MiB, then by page, until no byte is left
NORMAL_ANSWER_S = 1.0  # a command answered within this is served normally (read-your-writes)
NAME = "disk-full"
VOLUME_MB = 48
# The projection runner backs off to at most 30 s between retries while the volume is full.
RECOVER_BOUND_S = 35.0


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
    acknowledged: int  # answered 2xx (the checker says whether each is in the log, once)
    acknowledged_while_full: int
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


async def _drill(
    base_url: str, root_key: str, volume: Path, config: DiskConfig, history: History
) -> DiskFigures:
    clock = Clock()
    port = urlsplit(base_url).port or 80
    worlds = [
        await prepare_world(port, root_key, f"drill7-{config.seed}-{i}")
        for i in range(config.honest_clients)
    ]
    books = [Book() for _ in worlds]
    stop = asyncio.Event()
    prefix = f"drill7-{config.seed}"
    clients = [
        asyncio.create_task(
            HonestClient(world, i, prefix, history, clock,
                         pause_s=config.honest_pause_s).run(stop, book)
        )
        for i, (world, book) in enumerate(zip(worlds, books, strict=True))
    ]  # fmt: skip
    started = clock.now()
    await asyncio.sleep(config.warm_s)
    warm = _statuses(books)
    acked_before = acknowledged(history)
    filled_at = clock.now()
    ballast = await asyncio.to_thread(fill, volume)
    ballast_mib = round(ballast.stat().st_size / (1 << 20), 1)
    await asyncio.sleep(config.full_s)
    full = _statuses(books)
    acked_while_full = acknowledged(history) - acked_before
    ballast.unlink()
    released_at = clock.now()
    recover_s = await _recover(base_url, worlds[0].admin_key, worlds[0].asset_id)
    repaired = None if recover_s == float("inf") else released_at + recover_s
    history.faults.append(
        FaultRecord("database volume full", filled_at, repaired, released_at,
                    f"{ballast_mib} MiB of ballast for {config.full_s:g} s")
    )  # fmt: skip
    await asyncio.sleep(config.after_s)
    stop.set()
    await asyncio.gather(*clients)
    end = _statuses(books)
    phases = {"warm": warm, "full": full - warm, "after": end - full}
    elapsed = clock.now() - started
    history.load_seconds = elapsed
    ops = answered(history)
    return DiskFigures(
        seed=config.seed,
        seconds=round(elapsed, 1),
        honest_ops=ops,
        honest_ops_per_s=round(ops / elapsed, 1),
        faults_injected=1,
        ballast_mib=ballast_mib,
        acknowledged=acknowledged(history),
        acknowledged_while_full=acked_while_full,
        statuses={phase: dict(sorted(c.items())) for phase, c in phases.items()},
        unavailable_without_retry_after=sum(
            1 for _, a in history.attempts() if a.status == 503 and a.retry_after is None
        ),
        server_errors=sum(n for s, n in end.items() if s.startswith("5") and s != "503"),
        non_json_answers=sum(book.not_json for book in books),
        honest_unknown=unknown(history),
        honest_p99_ms=quantile_ms([s for book in books for s in book.latencies], 0.99),
        recover_s=recover_s,
    )


def run_disk_full(
    base_url: str, root_key: str, volume: Path, config: DiskConfig
) -> tuple[DiskFigures, History]:
    """Run drill 7 against a service whose database lives on `volume`: its figures and the
    honest clients' history, for the core checker."""
    history = History(config.seed)
    return asyncio.run(_drill(base_url, root_key, volume, config, history)), history


def problems(figures: DiskFigures) -> list[str]:
    """What drill 7 asserts beyond the core checker: 503 (never another error) while full, and
    served normally again within the bound once space returns."""
    found: list[str] = []
    full, after = figures.statuses["full"], figures.statuses["after"]
    if figures.ballast_mib <= 0 or full.get("503", 0) == 0:
        found.append(f"the volume was not seen full: {figures.ballast_mib} MiB, answers {full}")
    if not set(full) <= {"200", "201", "503"} or not set(after) <= {"200", "201", "503"}:
        found.append(f"answers while full {full}, after {after}: only 200, 201, 503 allowed")
    if figures.non_json_answers:
        found.append(f"{figures.non_json_answers} answers were not JSON")
    if figures.recover_s >= RECOVER_BOUND_S or after.get("201", 0) == 0:
        found.append(f"recovered after {figures.recover_s} s (bound {RECOVER_BOUND_S} s), "
                     f"answers after {after}")  # fmt: skip
    return found


def unavailable() -> str | None:
    """Why the drill cannot run here, or None: it mounts a tmpfs, which needs root."""
    if os.geteuid() != 0:
        return "mounting the small volume (tmpfs) needs root"
    if shutil.which("mount") is None or not Path("/proc/filesystems").exists():
        return "no mount(8) here"
    if "tmpfs" not in Path("/proc/filesystems").read_text():
        return "this kernel has no tmpfs"
    return None


def run(stage: Stage) -> Figures:
    reason = unavailable()
    if reason is not None:
        return Figures.skipped_round(NAME, stage.seed, stage.round, reason)
    config = DiskConfig(
        seed=stage.seed, full_s=max(4.0, stage.seconds - 8.0), warm_s=3.0, after_s=5.0
    )
    holder = scratch_dir("escrowgrid-drill-volume-")
    holder.chmod(0o711)  # the server user reaches the volume through it
    server_user = pwd.getpwnam(SYSTEM_USER)
    owner = (server_user.pw_uid, server_user.pw_gid)
    try:
        with (
            small_volume(holder / "volume", VOLUME_MB, owner) as volume,
            database_on_volume(stage.cluster.pg.admin_dsn(), volume, "template1", DB_USER) as name,
        ):
            dsn = stage.cluster.dsn(name)
            env = stage.env(dsn)
            service = ServiceProcess(env, stage.log(NAME, "serve")).start()
            try:
                disk, history = run_disk_full(service.url, stage.root_key, volume, config)

                def extra(verdict: Verdict) -> None:
                    for problem in problems(disk):
                        verdict.flag(problem)

                figures = judge(stage, NAME, history, dsn, env, extra)
                figures.notes = (
                    f"volume full {config.full_s:g} s ({disk.ballast_mib} MiB of ballast): "
                    f"answers while full {disk.statuses['full']}, acknowledged while full "
                    f"{disk.acknowledged_while_full}; honest p99 {disk.honest_p99_ms} ms"
                )
                return figures
            finally:
                service.stop()
    except subprocess.CalledProcessError as exc:  # the mount was refused (no CAP_SYS_ADMIN)
        detail = exc.stderr.decode(errors="replace").strip() if exc.stderr else str(exc)
        return Figures.skipped_round(NAME, stage.seed, stage.round, f"mount failed: {detail}")
    finally:
        with contextlib.suppress(OSError):
            holder.rmdir()


DRILLS = (
    Drill(7, NAME, "the database's volume (a small tmpfs tablespace) full under load, then freed",
          run),
)  # fmt: skip
