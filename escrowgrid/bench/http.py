"""`escrowgrid bench http`: the service over HTTP on PostgreSQL, at a fixed concurrency.

Starts a durable private PostgreSQL and `escrowgrid serve` (WEB_CONCURRENCY workers), seeds an
institution, key, template and asset over HTTP, then runs three phases: position creates,
moves (CREATED -> FUNDED -> PARTIALLY_RELEASED -> RELEASED) and `GET /positions/{id}` reads.
Reports ops/s, p50/p99 and the CPU used by the generator, the service and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import random
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import psycopg

from escrowgrid.bench.http_client import Connection
from escrowgrid.bench.stats import Sample
from escrowgrid.embedded_pg import DB_NAME, EmbeddedPostgres


@dataclass(frozen=True)
class HttpBenchConfig:
    seconds: float = 10.0
    concurrency: int = 16
    workers: int = 2
    runner: str = "inline"  # or "separate": `escrowgrid projections run` as its own process
    pg_stats: bool = False  # print pg_stat_statements' top statements after the run


@dataclass
class Phase:
    sample: Sample
    cpu: dict[str, float]  # share of one core, by process group


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _service_env(dsn: str, root: str, port: int, workers: int, data_dir: Path) -> dict[str, str]:
    """The environment a benchmarked `escrowgrid serve` runs with: no rate limits."""
    return {
        **os.environ,
        "DATABASE_URL": dsn,
        "ROOT_API_KEY": root,
        "PORT": str(port),
        "WEB_CONCURRENCY": str(workers),
        "RATE_LIMIT_ENABLED": "false",
        "ESCROWGRID_DATA_DIR": str(data_dir),
    }


def _postmaster(pg: EmbeddedPostgres) -> int:
    """The pid of the cluster's postmaster, whose process tree the meter counts."""
    return int((pg.pgdata / "postmaster.pid").read_text().split()[0])


def _cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            times = proc.cpu_times()
            total += times.user + times.system
            for child in proc.children(recursive=True):
                with_times = child.cpu_times()
                total += with_times.user + with_times.system
        except psutil.NoSuchProcess:
            continue
    return total


class _Meter:
    """CPU seconds of the generator, the service tree and the PostgreSQL tree."""

    def __init__(self, service_pids: list[int], postmaster_pid: int) -> None:
        self.groups = {"generator": [os.getpid()], "service": service_pids}
        self.groups["postgres"] = [postmaster_pid]

    def read(self) -> dict[str, float]:
        out = {}
        for name, pids in self.groups.items():
            if name == "generator":
                t = psutil.Process().cpu_times()
                out[name] = t.user + t.system
            else:
                out[name] = _cpu(pids)
        return out


async def _phase(
    name: str,
    config: HttpBenchConfig,
    port: int,
    key: str,
    meter: _Meter | None,
    op: Callable[[Connection, int], Awaitable[bool]],
    host: str = "127.0.0.1",
) -> Phase:
    sample = Sample(name, config.concurrency)
    conns = [Connection(host, port, {"X-API-KEY": key}) for _ in range(config.concurrency)]
    deadline = time.perf_counter() + config.seconds

    async def worker(index: int) -> None:
        conn = conns[index]
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            ok = await op(conn, index)
            elapsed = time.perf_counter() - t0
            if ok is None:  # nothing left to do
                return
            if ok:
                sample.latencies.append(elapsed)
            else:
                sample.errors += 1

    before = meter.read() if meter is not None else {}
    started = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(config.concurrency)))
    sample.elapsed = time.perf_counter() - started
    after = meter.read() if meter is not None else {}
    for conn in conns:
        await conn.close()
    cpu = {k: (after[k] - before[k]) / sample.elapsed for k in after}
    return Phase(sample, cpu)


PLAIN_TEMPLATE: dict[str, Any] = {"currency": "USD", "region": "US"}


async def _drive(
    config: HttpBenchConfig,
    port: int,
    root: str,
    meter: _Meter | None,
    template_config: dict[str, Any] = PLAIN_TEMPLATE,  # `bench onchain`: an on-chain template
    *,
    host: str = "127.0.0.1",
) -> list[Phase]:
    """Seed over HTTP with the root key, then the create, move and read phases."""
    setup = Connection(host, port, {"X-API-KEY": root})

    async def post(conn: Connection, path: str, body: dict[str, Any]) -> Any:
        reply = await conn.request("POST", path, json.dumps(body).encode())
        assert reply.status in (200, 201), (path, reply.status, reply.body[:200])
        return json.loads(reply.body)

    inst = await post(setup, "/institutions", {"name": "Bench", "regions": ["US"]})
    key = (
        await post(setup, f"/institutions/{inst['id']}/api-keys", {"label": "b", "role": "admin"})
    )["apiKey"]
    admin = Connection(host, port, {"X-API-KEY": key})
    template = await post(admin, "/asset-templates", {
        "code": "CONSTR_ESCROW", "name": "Escrow", "vertical": "CONSTRUCTION", "region": "US",
        "config": template_config,
    })  # fmt: skip
    asset = await post(admin, "/assets", {"templateId": template["id"], "label": "Tower"})
    await setup.close()
    await admin.close()

    created: list[list[str]] = [[] for _ in range(config.concurrency)]
    create_body = json.dumps({
        "assetId": asset["id"], "holderReference": "h", "currency": "USD", "amount": "100.00",
    }).encode()  # fmt: skip

    async def create(conn: Connection, worker: int) -> bool:
        reply = await conn.request("POST", "/positions", create_body)
        if reply.status != 201:
            return False
        created[worker].append(json.loads(reply.body)["id"])
        return True

    steps = (
        json.dumps({"toState": "FUNDED"}).encode(),
        json.dumps({"toState": "PARTIALLY_RELEASED", "amount": "25.5"}).encode(),
        json.dumps({"toState": "RELEASED"}).encode(),
    )
    plans: list[Any] = []  # each worker moves the positions it created, once they exist

    async def move(conn: Connection, worker: int) -> Any:
        step = next(plans[worker], None)
        if step is None:
            return None
        reply = await conn.request("POST", f"/positions/{step[0]}/transition", step[1])
        return reply.status == 200

    everything: list[str] = []  # filled once the creates are done
    rng = random.Random(7)

    async def read(conn: Connection, worker: int) -> bool:
        reply = await conn.request("GET", f"/positions/{rng.choice(everything)}")
        return reply.status == 200

    phases = [await _phase("http: position create", config, port, key, meter, create, host)]
    everything.extend(pid for ids in created for pid in ids)
    plans.extend(iter([(pid, s) for pid in ids for s in steps]) for ids in created)
    phases.append(await _phase("http: position move", config, port, key, meter, move, host))
    phases.append(await _phase("http: position read", config, port, key, meter, read, host))
    return phases


def run(config: HttpBenchConfig, data_root: Path) -> str:
    data_root.mkdir(parents=True, exist_ok=True)
    settings = {"shared_preload_libraries": "pg_stat_statements"} if config.pg_stats else None
    folder = Path(tempfile.mkdtemp(prefix="bench-http-", dir=data_root))
    pg = EmbeddedPostgres(folder, settings=settings)
    pg.start()
    statements = ""
    if config.pg_stats:
        with psycopg.connect(pg.admin_dsn(DB_NAME), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    port = _free_port()
    root = secrets.token_urlsafe(24)
    env = _service_env(pg.dsn, root, port, config.workers, pg.data_dir / "service")
    processes = _spawn_service(config, env)
    try:
        _wait_healthy(port)
        meter = _Meter([p.pid for p in processes], _postmaster(pg))
        phases = asyncio.run(_drive(config, port, root, meter))
        if config.pg_stats:
            statements = _top_statements(pg)
    finally:
        for process in processes:
            _stop(process)
        pg.destroy()
    return _report(phases, config) + statements


def _top_statements(pg: EmbeddedPostgres, count: int = 20) -> str:
    """The statements PostgreSQL spent most execution time on, over the whole run."""
    with psycopg.connect(pg.admin_dsn(DB_NAME), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT calls, total_exec_time, mean_exec_time,"
            " left(regexp_replace(query, '\\s+', ' ', 'g'), 90)"
            " FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database"
            " WHERE datname = current_database()) ORDER BY total_exec_time DESC LIMIT %s",
            (count,),
        ).fetchall()
    lines = ["", "", "| calls | total ms | mean ms | statement |", "|---:|---:|---:|---|"]
    for calls, total, mean, query in rows:
        text = query.replace("|", "\\|")
        lines.append(f"| {calls:,} | {total:,.0f} | {mean:.3f} | `{text}` |")
    return "\n".join(lines)


def _spawn_service(
    config: HttpBenchConfig, env: dict[str, str], cwd: Path | None = None
) -> list[subprocess.Popen[bytes]]:
    """`escrowgrid serve`, and with the runner separate `escrowgrid projections run` beside it
    (`PROJECTIONS_INLINE=false` in `env`, as the compose stack runs them)."""
    if config.runner == "separate":
        env["PROJECTIONS_INLINE"] = "false"
    processes = [_spawn(["serve"], env, cwd)]
    if config.runner == "separate":
        try:
            processes.append(_spawn(["projections", "run"], env, cwd))
        except BaseException:
            _stop(processes[0])
            raise
    return processes


def _spawn(
    args: list[str], env: dict[str, str], cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # noqa: S603 (our own CLI, fixed arguments)
        [sys.executable, "-m", "escrowgrid.cli", *args], cwd=cwd,
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip


def _stop(process: subprocess.Popen[bytes]) -> None:
    # The whole process group: Granian's workers must not outlive their parent.
    os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _wait_healthy(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(b"GET /ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if b" 200 " in sock.recv(200):
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the service did not become ready")


def _report(phases: list[Phase], config: HttpBenchConfig) -> str:
    lines = [
        "| scenario | concurrency | ops | ops/s | p50 ms | p99 ms | non-2xx "
        "| CPU generator | CPU service | CPU postgres |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p in phases:
        s = p.sample
        lines.append(
            f"| {s.name} | {s.writers} | {len(s.latencies)} | {s.ops_per_s:,.0f} | "
            f"{s.percentile_ms(50):.2f} | {s.percentile_ms(99):.2f} | {s.errors} | "
            f"{p.cpu['generator']:.0%} | {p.cpu['service']:.0%} | {p.cpu['postgres']:.0%} |"
        )
    lines.append("")
    lines.append(
        f"machine: {platform.machine()}, {os.cpu_count()} cores; service workers: "
        f"{config.workers}; projection runner: {config.runner}; {config.seconds:.0f} s per "
        "phase; CPU as a share of one core (service: its workers and any runner process)"
    )
    return "\n".join(lines)
