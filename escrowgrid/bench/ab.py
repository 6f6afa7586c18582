"""`escrowgrid bench http --against REF|URL`: this checkout (B) against another server (A).

A is a git ref, checked out into a temporary worktree and served from it (this interpreter's
dependencies, the ref's code first on PYTHONPATH), or the URL of a server already running that
speaks the contract. Rounds alternate A, B, A, B...; each spawned round gets a fresh database in
one shared private PostgreSQL, so both sides see the same disk, cluster and load generator.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import secrets
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import psycopg

from escrowgrid.bench.http import (
    HttpBenchConfig,
    Phase,
    _drive,
    _free_port,
    _Meter,
    _postmaster,
    _service_env,
    _spawn_service,
    _stop,
    _wait_healthy,
)
from escrowgrid.embedded_pg import DB_NAME, DB_USER, EmbeddedPostgres

_REPO = Path(__file__).resolve().parents[2]


class AgainstError(ValueError):
    """An --against value that names neither a usable URL nor a git ref."""


@dataclass(frozen=True, slots=True)
class Against:
    """The other side: a git ref to serve, or a running server's URL (with its root key)."""

    ref: str | None = None
    host: str = ""
    port: int = 0
    root_key: str | None = None

    @property
    def label(self) -> str:
        return self.ref if self.ref is not None else f"http://{self.host}:{self.port}"


def parse_against(text: str, root_key: str | None = None) -> Against:
    """`http://host:port` (needs the server's root key) or a git ref of this repository."""
    text = text.strip()
    if not text:
        raise AgainstError("--against needs a git ref or a URL")
    if "://" in text:
        parts = urlsplit(text)
        if parts.scheme != "http":
            raise AgainstError(f"--against {text}: only http:// URLs (the load client is plain)")
        if not parts.hostname or parts.path not in ("", "/"):
            raise AgainstError(f"--against {text}: give the server's base URL, http://host:port")
        if not root_key:
            raise AgainstError(
                "--against URL needs that server's root API key (--against-root-key or "
                "BENCH_AGAINST_ROOT_KEY) to seed an institution"
            )
        return Against(host=parts.hostname, port=parts.port or 80, root_key=root_key)
    if text.startswith("-"):
        raise AgainstError(f"--against {text}: not a git ref")
    found = subprocess.run(  # noqa: S603 - git with a fixed argument list
        ["git", "-C", str(_REPO), "rev-parse", "--verify", "--quiet", f"{text}^{{commit}}"],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
    )
    if found.returncode != 0:
        raise AgainstError(f"--against {text}: neither an http:// URL nor a git ref of {_REPO}")
    return Against(ref=text)


@dataclass
class Round:
    """One side's round: its three phases and the projection lag sampled meanwhile."""

    side: str  # "A" or "B"
    number: int
    phases: list[Phase]
    lag_ms: list[float] = field(default_factory=list)

    def rate(self, index: int) -> float:
        return self.phases[index].sample.ops_per_s

    def pct(self, index: int, pct: float) -> float:
        return self.phases[index].sample.percentile_ms(pct)

    @property
    def errors(self) -> int:
        return sum(p.sample.errors for p in self.phases)

    @property
    def lag_p99(self) -> float:
        return _percentile(self.lag_ms, 99) if self.lag_ms else float("nan")


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))]


@contextlib.contextmanager
def _checkout(ref: str) -> Iterator[Path]:
    """A detached worktree of `ref`, removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="bench-ref-"))
    tree = folder / "tree"
    git = ["git", "-C", str(_REPO)]
    subprocess.run([*git, "worktree", "add", "--detach", "--quiet", str(tree), ref], check=True)  # noqa: S603
    try:
        yield tree
    finally:
        subprocess.run([*git, "worktree", "remove", "--force", str(tree)], check=False)  # noqa: S603
        shutil.rmtree(folder, ignore_errors=True)


_LAG = """
SELECT coalesce(extract(epoch FROM clock_timestamp() - e.recorded_at) * 1000, 0)
FROM events e
WHERE e.position > (SELECT coalesce(min(position), 0) FROM projection_tracking)
ORDER BY e.position LIMIT 1
"""


async def _sample_lag(dsn: str, into: list[float], stop: asyncio.Event) -> None:
    """Every 20 ms: how long the oldest event no read model has passed yet has waited (0: none)."""
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        while not stop.is_set():
            cur = await conn.execute(_LAG)
            row = await cur.fetchone()
            into.append(float(row[0]) if row else 0.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.02)


async def _measured(
    config: HttpBenchConfig,
    host: str,
    port: int,
    root: str,
    meter: _Meter | None,
    lag_dsn: str | None,
) -> tuple[list[Phase], list[float]]:
    lag: list[float] = []
    stop = asyncio.Event()
    sampler = asyncio.create_task(_sample_lag(lag_dsn, lag, stop)) if lag_dsn else None
    try:
        phases = await _drive(config, port, root, meter, host=host)
    finally:
        stop.set()
        if sampler is not None:
            await sampler
    return phases, lag


def _served_round(
    config: HttpBenchConfig, pg: EmbeddedPostgres, tree: Path | None, name: str
) -> tuple[list[Phase], list[float]]:
    """Serve one side from `tree` (None: this checkout) on a fresh database; drive it."""
    with psycopg.connect(pg.admin_dsn(), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name} OWNER {DB_USER}")
    dsn = pg.dsn.replace(f"/{DB_NAME}?", f"/{name}?")
    port = _free_port()
    root = secrets.token_urlsafe(24)
    env = _service_env(dsn, root, port, config.workers, pg.data_dir / f"service-{name}")
    if tree is not None:  # the ref's packages before this checkout's editable install
        env["PYTHONPATH"] = os.pathsep.join([str(tree), *filter(None, [env.get("PYTHONPATH")])])
    processes = _spawn_service(config, env, cwd=tree)
    try:
        _wait_healthy(port)
        meter = _Meter([p.pid for p in processes], _postmaster(pg))
        return asyncio.run(_measured(config, "127.0.0.1", port, root, meter, dsn))
    finally:
        for process in processes:
            _stop(process)
        with psycopg.connect(pg.admin_dsn(), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def run_ab(config: HttpBenchConfig, against: Against, rounds: int, data_root: Path) -> str:
    """Alternate A (`against`) and B (this checkout) `rounds` times each; report the ratios."""
    data_root.mkdir(parents=True, exist_ok=True)
    pg = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="bench-ab-", dir=data_root)))
    pg.start()
    results: list[Round] = []
    try:
        with contextlib.ExitStack() as stack:
            tree = stack.enter_context(_checkout(against.ref)) if against.ref else None
            for number in range(1, rounds + 1):
                for side in ("A", "B"):
                    started = time.monotonic()
                    if side == "A" and against.ref is None:
                        assert against.root_key is not None
                        phases, lag = asyncio.run(
                            _measured(
                                config, against.host, against.port, against.root_key, None, None
                            )
                        )
                    else:
                        source = tree if side == "A" else None
                        phases, lag = _served_round(
                            config, pg, source, f"ab_{side.lower()}{number}"
                        )
                    results.append(Round(side, number, phases, lag))
                    print(
                        _round_line(results[-1]) + f" ({time.monotonic() - started:.0f} s)",
                        flush=True,
                    )
    finally:
        pg.destroy()
    return report(results, config, against)


_PHASES = ("creates", "moves", "reads")


def _round_line(r: Round) -> str:
    cells = [f"{r.side}{r.number}"]
    for i in range(3):
        cells.append(f"{r.rate(i):,.0f}/s {r.pct(i, 50):.1f}/{r.pct(i, 99):.1f} ms")
    return " | ".join([*cells, f"errors {r.errors}", f"lag p99 {r.lag_p99:.1f} ms"])


def report(results: list[Round], config: HttpBenchConfig, against: Against) -> str:
    """Per-round rows, then each side's median over its rounds and B/A."""
    lines = [
        "| round | creates/s | p50 / p99 ms | moves/s | p50 / p99 ms | reads/s | p50 / p99 ms "
        "| non-2xx | lag p99 ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        row = [f"{r.side}{r.number}"]
        for i in range(3):
            row += [f"{r.rate(i):,.0f}", f"{r.pct(i, 50):.1f} / {r.pct(i, 99):.1f}"]
        row += [str(r.errors), f"{r.lag_p99:.1f}"]
        lines.append("| " + " | ".join(row) + " |")
    medians = {side: _medians([r for r in results if r.side == side]) for side in ("A", "B")}
    lines += ["", "| figure (median of rounds) | A | B | B/A |", "|---|---:|---:|---:|"]
    for key in medians["A"]:
        a, b = medians["A"][key], medians["B"][key]
        ratio = f"{b / a:.2f}x" if a else "-"
        lines.append(f"| {key} | {a:,.1f} | {b:,.1f} | {ratio} |")
    lines.append("")
    lines.append(
        f"A = {against.label}, B = this checkout; {len(results) // 2} rounds each, alternating "
        f"A B; {config.seconds:.0f} s per phase, concurrency {config.concurrency}, "
        f"{config.workers} service workers; projection runner: {config.runner}; "
        f"machine: {platform.machine()}, "
        f"{os.cpu_count()} cores"
    )
    return "\n".join(lines)


def _medians(rounds: list[Round]) -> dict[str, float]:
    out: dict[str, float] = {}
    for i, name in enumerate(_PHASES):
        out[f"{name}/s"] = statistics.median(r.rate(i) for r in rounds)
        out[f"{name} p50 ms"] = statistics.median(r.pct(i, 50) for r in rounds)
        out[f"{name} p99 ms"] = statistics.median(r.pct(i, 99) for r in rounds)
    out["non-2xx"] = float(sum(r.errors for r in rounds))
    lags = [r.lag_p99 for r in rounds if r.lag_ms]
    out["projection lag p99 ms"] = statistics.median(lags) if lags else float("nan")
    return out
